//! The storage page's file browser for one claim: folders of its volume listed through a
//! running pod that mounts it, files downloaded and uploaded through the terminal's transfer
//! routes (developers; every listing and transfer is audited). A claim no running pod mounts
//! is offered a files pod (`wharf_console::storage::files`), which the browser waits for and
//! can stop.

use crate::components::badges::Ago;
use crate::components::banner::ErrorBanner;
use crate::components::ticker::ticker;
use crate::components::upload::UploadProgress;
use crate::error::AppError;
use crate::i18n::{t, tr};
use crate::storage::{
    close_volume_files, human_bytes, in_container, open_volume_files, volume_files,
};
use crate::terminal::query_of;
use leptos::prelude::*;
use wharf_api::{routes, Text};

#[component]
pub fn ClaimFiles(
    tenant: Memo<String>,
    namespace: String,
    claim: String,
    /// Closes the browser.
    on_close: Callback<()>,
) -> impl IntoView {
    let path = RwSignal::new(String::new());
    let reload = RwSignal::new(0u64);
    // a files pod asked for and not reachable yet: listed again every 2 s until it is
    let starting = RwSignal::new(None::<String>);
    let waiting = RwSignal::new(false);
    let tick = ticker(std::time::Duration::from_secs(2), Some(waiting));
    let listing = {
        let (namespace, claim) = (namespace.clone(), claim.clone());
        Resource::new(
            move || (tenant.get(), path.get(), reload.get(), tick.get()),
            move |(tn, p, _, _)| volume_files(tn, namespace.clone(), claim.clone(), p),
        )
    };
    // no running pod mounts the claim
    let unmounted =
        Signal::derive(move || matches!(listing.get(), Some(Err(AppError::Conflict(_)))));
    Effect::new(move |_| waiting.set(starting.get().is_some() && unmounted.get()));
    // no pod mounting the claim is a state, said below with what to do, not an error
    let error = Signal::derive(move || {
        listing
            .get()
            .and_then(Result::err)
            .filter(|e| !matches!(e, AppError::Conflict(_)))
    });
    let why_unmounted = move || match listing.get() {
        Some(Err(AppError::Conflict(why))) => Some(why),
        _ => None,
    };
    let pod_error = RwSignal::new(None::<AppError>);
    let start_pod = {
        let (namespace, claim) = (namespace.clone(), claim.clone());
        Action::new(move |_: &()| {
            let (tn, ns, c) = (tenant.get_untracked(), namespace.clone(), claim.clone());
            async move {
                match open_volume_files(tn, ns, c).await {
                    Ok(pod) => {
                        pod_error.set(None);
                        starting.set(Some(pod));
                        reload.update(|n| *n += 1);
                    }
                    Err(e) => pod_error.set(Some(e)),
                }
            }
        })
    };
    let stop_pod = {
        let (namespace, claim) = (namespace.clone(), claim.clone());
        Action::new(move |_: &()| {
            let (tn, ns, c) = (tenant.get_untracked(), namespace.clone(), claim.clone());
            async move {
                match close_volume_files(tn, ns, c).await {
                    Ok(()) => {
                        pod_error.set(None);
                        starting.set(None);
                        reload.update(|n| *n += 1);
                    }
                    Err(e) => pod_error.set(Some(e)),
                }
            }
        })
    };
    let progress = RwSignal::new(None::<(f64, f64)>);
    let result = RwSignal::new(None::<Result<Text, Text>>);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let transfer_query = {
        let namespace = namespace.clone();
        move |pod: &str, container: &str, file: &str| {
            query_of(&[
                ("ns", &namespace),
                ("pod", pod),
                ("container", container),
                ("path", file),
            ])
        }
    };
    let up_query = transfer_query.clone();
    let do_upload = move |_| {
        result.set(None);
        let (Some(input), Some(Ok(l))) = (file_input.get_untracked(), listing.get_untracked())
        else {
            return;
        };
        let folder = format!("{}/", in_container(&l.mount_path, &l.path));
        let url = {
            let (tn, q) = (tenant.get_untracked(), up_query.clone());
            move |to: &str| routes::UPLOAD_TERMINAL.with_query(&[&tn], &q(&l.pod, &l.container, to))
        };
        #[cfg(feature = "csr")]
        crate::pages::terminal::start_upload(input, folder, url, progress, result);
        #[cfg(not(feature = "csr"))]
        let _ = (input, folder, url);
    };
    // a finished upload shows in the listing
    Effect::new(move |_| {
        if matches!(result.get(), Some(Ok(_))) {
            reload.update(|n| *n += 1);
        }
    });
    let title = format!("{namespace}/{claim}");
    view! {
        <div class="card wide" data-testid="claim-files" data-claim=claim.clone()>
            <div class="page-head">
                <h3>{t("Files of", "文件:")} " " <span class="mono">{title}</span></h3>
                <div class="spacer"></div>
                <button class="small" data-testid="claim-files-close" on:click=move |_| on_close.run(())>{t("Close", "关闭")}</button>
            </div>
            <ErrorBanner error/>
            <ErrorBanner error=pod_error/>
            <Show when=move || unmounted.get() && starting.get().is_none()>
                <div data-testid="claim-files-no-pod">
                    <p data-testid="claim-files-why">{move || why_unmounted().map(|w| tr(&w))}</p>
                    <p class="muted">{t(
                        "Wharf can start a files pod for this claim: it mounts the claim at /data with the terminal's tools image, and Kubernetes stops it after an hour (or stop it here).",
                        "Wharf 可为该存储卷声明启动一个文件 Pod:它以终端的工具镜像将声明挂载到 /data,一小时后由 Kubernetes 停止(也可在此停止)。",
                    )}</p>
                    <button data-testid="claim-files-start-pod" disabled=move || start_pod.pending().get()
                        on:click=move |_| { start_pod.dispatch(()); }>
                        {t("Start a files pod", "启动文件 Pod")}
                    </button>
                </div>
            </Show>
            {move || starting.get().filter(|_| unmounted.get()).map(|pod| {
                // the server's words for what the pod waits on (pulling, scheduling, …)
                let how = why_unmounted();
                view! {
                    <p class="muted" data-testid="claim-files-starting">
                        {t("Starting files pod", "正在启动文件 Pod")} " " <span class="mono">{pod}</span> "… "
                        {how.map(|w| view! { <span class="small">{move || tr(&w)}</span> })}
                    </p>
                }
            })}
            {move || listing.get().and_then(Result::ok).map(|l| {
                let crumbs: Vec<String> = l.path.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
                let q = transfer_query.clone();
                view! {
                    <p class="muted small" data-testid="claim-files-through">
                        {t("Through", "通过")} " " <span class="mono">{format!("{}/{}", l.pod, l.container)}</span>
                        ", " {t("mounted at", "挂载于")} " " <span class="mono">{l.mount_path.clone()}</span>
                        {l.files_pod.then(|| view! {
                            " " <span class="badge">{t("files pod", "文件 Pod")}</span> " "
                            <button class="small" data-testid="claim-files-stop-pod" disabled=move || stop_pod.pending().get()
                                on:click=move |_| { stop_pod.dispatch(()); }>
                                {t("Stop the files pod", "停止文件 Pod")}
                            </button>
                        })}
                    </p>
                    <p class="mono" data-testid="claim-files-path">
                        <button class="link" on:click=move |_| path.set(String::new())>"/"</button>
                        {crumbs.iter().enumerate().map(|(i, c)| {
                            let to = crumbs[..=i].join("/");
                            view! { <button class="link" on:click=move |_| path.set(to.clone())>{c.clone()}</button> "/" }
                        }).collect_view()}
                    </p>
                    <table class="grid" data-testid="claim-files-table">
                        <thead><tr><th>{t("Name", "名称")}</th><th>{t("Size", "大小")}</th><th>{t("Modified", "修改时间")}</th></tr></thead>
                        <tbody>
                            {l.entries.iter().map(|e| {
                                let inside = if l.path.is_empty() { e.name.clone() } else { format!("{}/{}", l.path, e.name) };
                                let name = if e.dir {
                                    let to = inside.clone();
                                    view! { <button class="link" data-testid="file-open" on:click=move |_| path.set(to.clone())>{format!("{}/", e.name)}</button> }.into_any()
                                } else {
                                    let href = routes::DOWNLOAD_TERMINAL.with_query(&[&tenant.get_untracked()], &q(&l.pod, &l.container, &in_container(&l.mount_path, &inside)));
                                    view! { <a data-testid="file-download" href=href download="">{e.name.clone()}</a> }.into_any()
                                };
                                view! {
                                    <tr data-testid="file-row" data-name=e.name.clone() data-dir=e.dir.to_string()>
                                        <td class="mono">{name}</td>
                                        <td>{if e.dir { "—".to_string() } else { human_bytes(e.size) }}</td>
                                        <td><Ago at=e.modified/></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    {l.entries.is_empty().then(|| view! { <p class="empty" data-testid="claim-files-empty">{t("This folder is empty.", "此文件夹为空。")}</p> })}
                    {l.truncated.then(|| view! { <p class="muted" data-testid="claim-files-truncated">{t("Only the first 2000 entries are listed.", "仅列出前 2000 项。")}</p> })}
                }
            })}
            // uploads need a pod to go through
            <div class="inline" style:display=move || if matches!(listing.get(), Some(Ok(_))) { "" } else { "none" }>
                <input type="file" data-testid="claim-upload-file" node_ref=file_input/>
                <button data-testid="claim-upload" on:click=do_upload>{t("Upload here", "上传到此处")}</button>
                <UploadProgress progress/>
                {move || result.get().map(|r| match r {
                    Ok(m) => view! { <span class="ok" data-testid="claim-upload-done">{move || tr(&m)}</span> }.into_any(),
                    Err(e) => view! { <span class="banner error inline-banner" data-testid="claim-upload-error">{move || tr(&e)}</span> }.into_any(),
                })}
            </div>
        </div>
    }
}
