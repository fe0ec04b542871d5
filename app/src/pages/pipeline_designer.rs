//! `/t/:tenant/pipelines/new` and `/t/:tenant/pipelines/:ns/:name`: the designer. Stages are
//! cards — add, remove, move up and down, fill in — checked as you save with the same checks
//! the server makes. An existing pipeline also shows its run history, the run button and
//! (for developers) its git webhook.

use super::param;
use super::pipelines::{kind_label, use_pipelines, use_start_run, RunBadge};
use crate::components::badges::Ago;
use crate::components::banner::ErrorBanner;
use crate::components::live::{LinkDot, Live};
use crate::components::shell::use_tenant_access;
use crate::components::upload::UploadProgress;
use crate::error::AppError;
use crate::i18n::{t, tr};
use crate::pipelines::{
    final_dockerfile, pipeline_options, save_pipeline, validate, ArtifactSource, DesignerOptions,
    PipelineSpec, PipelineWebhook, Stage, StageKind, TOOLS,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wharf_api::Text;

/// One card: a stable id (so moving a card keeps its inputs) and the stage it edits.
#[derive(Clone, Copy)]
struct Card {
    id: u64,
    stage: RwSignal<Stage>,
}

/// A stage name not taken yet: `build`, `build-2`, …
fn free_name(kind: StageKind, taken: &[String]) -> String {
    let base = match kind {
        StageKind::Source => "clone",
        StageKind::Tools => "tools",
        other => other.label(),
    };
    (1..)
        .map(|i| {
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|n| !taken.contains(n))
        .unwrap_or_default()
}

/// Where a new stage of `kind` goes: source first, deploy last, the others before the image.
fn insert_at(kind: StageKind, kinds: &[Option<StageKind>]) -> usize {
    match kind {
        StageKind::Source => 0,
        StageKind::Deploy | StageKind::Image => kinds
            .iter()
            .position(|k| *k == Some(StageKind::Deploy))
            .unwrap_or(kinds.len()),
        _ => kinds
            .iter()
            .position(|k| matches!(k, Some(StageKind::Image | StageKind::Deploy)))
            .unwrap_or(kinds.len()),
    }
}

fn input(
    label: impl Fn() -> &'static str + Send + Sync + 'static,
    testid: &'static str,
    stage: RwSignal<Stage>,
    get: fn(&Stage) -> String,
    set: fn(&mut Stage, String),
) -> impl IntoView {
    view! {
        <label>{label}
            <input data-testid=testid prop:value=move || stage.with(get) on:input=move |ev| stage.update(|s| set(s, event_target_value(&ev)))/>
        </label>
    }
}

fn checkbox(
    label: impl Fn() -> &'static str + Send + Sync + 'static,
    testid: &'static str,
    stage: RwSignal<Stage>,
    get: fn(&Stage) -> bool,
    set: fn(&mut Stage, bool),
) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" data-testid=testid prop:checked=move || stage.with(get) on:change=move |ev| stage.update(|s| set(s, event_target_checked(&ev)))/>
            {label}
        </label>
    }
}

/// What every card may need besides its stage.
#[derive(Clone, Copy)]
struct CardCtx {
    options: RwSignal<DesignerOptions>,
    tenant: Memo<String>,
    /// The namespace the pipeline is (to be) saved in: uploads go there.
    namespace: RwSignal<String>,
    /// The source is an uploaded artifact (build and quality are skipped, the Dockerfile is
    /// written by Wharf).
    from_artifact: Memo<bool>,
}

fn with_artifact(stage: &Stage, f: impl Fn(&ArtifactSource) -> String) -> String {
    stage
        .source
        .as_ref()
        .and_then(|x| x.artifact.as_ref())
        .map(f)
        .unwrap_or_default()
}

fn set_artifact(stage: &mut Stage, f: impl FnOnce(&mut ArtifactSource)) {
    if let Some(a) = stage.source.as_mut().and_then(|x| x.artifact.as_mut()) {
        f(a)
    }
}

/// The source card: a git repository, or an uploaded jar, war or zip.
#[component]
fn SourceFields(stage: RwSignal<Stage>, ctx: CardCtx) -> impl IntoView {
    let is_artifact =
        move || stage.with(|s| s.source.as_ref().is_some_and(|x| x.artifact.is_some()));
    let choose = move |artifact: bool| {
        let base = ctx.options.with_untracked(|o| {
            o.base_images
                .first()
                .map(|b| b.name.clone())
                .unwrap_or_default()
        });
        stage.update(|s| {
            let Some(x) = s.source.as_mut() else { return };
            if artifact && x.artifact.is_none() {
                x.git_url.clear();
                x.git_ref.clear();
                x.credentials_secret = None;
                x.artifact = Some(ArtifactSource {
                    base_image: base,
                    port: 8080,
                    ..Default::default()
                });
            } else if !artifact && x.artifact.is_some() {
                x.artifact = None;
                x.git_ref = "main".into();
            }
        })
    };
    let progress = RwSignal::new(None::<(f64, f64)>);
    let upload_error = RwSignal::new(None::<Text>);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let on_pick = move |_| {
        upload_error.set(None);
        let Some(input) = file_input.get_untracked() else {
            return;
        };
        #[cfg(feature = "csr")]
        {
            use crate::components::upload::{broke_off, picked, send_file};
            let Some(file) = picked(&input) else { return };
            let name = file.name();
            if let Err(e) = validate::artifact_file_name(&name) {
                upload_error.set(Some(e));
                return;
            }
            let max = ctx.options.with_untracked(|o| o.artifact_max_bytes);
            if max > 0 && file.size() > max as f64 {
                let (mb, limit) = ((file.size() / 1048576.0).ceil() as u64, max >> 20);
                upload_error.set(Some(wharf_api::text!(
                    "The file is {mb} MB; artifacts are limited to {limit} MB.",
                    "文件大小为 {mb} MB,制品上限为 {limit} MB。"
                )));
                return;
            }
            let link = crate::terminal::query_of(&[
                ("ns", &ctx.namespace.get_untracked()),
                ("name", &name),
            ]);
            let url = wharf_api::routes::UPLOAD_ARTIFACT
                .with_query(&[&ctx.tenant.get_untracked()], &link);
            send_file(&file, &url, progress, move |status, body| {
                progress.try_set(None);
                if status == 200 {
                    match serde_json::from_str::<crate::pipelines::UploadedArtifact>(&body) {
                        Ok(up) => {
                            stage.try_update(|s| {
                                set_artifact(s, |a| {
                                    a.sha256 = up.sha256;
                                    a.file_name = up.file_name;
                                    a.size = up.size;
                                })
                            });
                        }
                        Err(_) => {
                            upload_error.try_set(Some(Text::verbatim(body)));
                        }
                    }
                } else if status == 0 {
                    upload_error.try_set(Some(broke_off()));
                } else {
                    upload_error.try_set(Some(crate::i18n::refusal_of(&body)));
                }
            });
        }
        #[cfg(not(feature = "csr"))]
        let _ = (input, ctx.tenant, ctx.namespace);
    };
    let uploaded = move || stage.with(|s| !with_artifact(s, |a| a.sha256.clone()).is_empty());
    view! {
        <div class="row">
            <label class="check"><input type="radio" data-testid="source-git" prop:checked=move || !is_artifact() on:change=move |_| choose(false)/>{t("Git repository", "Git 仓库")}</label>
            <label class="check"><input type="radio" data-testid="source-artifact" prop:checked=is_artifact on:change=move |_| choose(true)/>{t("Upload a jar, war or zip", "上传 jar、war 或 zip")}</label>
        </div>
        <Show when=move || !is_artifact()>
            {input(t("Git URL", "Git 地址"), "field-git-url", stage, |s| s.source.as_ref().map(|x| x.git_url.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.source.as_mut() { x.git_url = v })}
            <div class="row">
                {input(t("Branch or tag", "分支或标签"), "field-git-ref", stage, |s| s.source.as_ref().map(|x| x.git_ref.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.source.as_mut() { x.git_ref = v })}
                {input(t("Credentials Secret (optional)", "凭据 Secret(可选)"), "field-git-secret", stage, |s| s.source.as_ref().and_then(|x| x.credentials_secret.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.source.as_mut() { x.credentials_secret = Some(v).filter(|v| !v.is_empty()) })}
            </div>
        </Show>
        <Show when=is_artifact>
            {move || ctx.options.with(|o| o.artifacts_unavailable.clone()).map(|why| view! { <p class="banner error" data-testid="artifacts-unavailable">{move || tr(&why)}</p> })}
            <div class="row">
                <label>{t("File (.jar, .war, .zip)", "文件(.jar、.war、.zip)")}
                    <input type="file" accept=".jar,.war,.zip" data-testid="field-artifact-file" node_ref=file_input on:change=on_pick/>
                </label>
                <UploadProgress progress/>
            </div>
            <Show when=uploaded>
                <dl class="kv" data-testid="artifact-uploaded">
                    <dt>{t("File", "文件")}</dt><dd class="mono" data-testid="artifact-name">{move || stage.with(|s| with_artifact(s, |a| a.file_name.clone()))}</dd>
                    <dt>{t("Size", "大小")}</dt><dd data-testid="artifact-size">{move || stage.with(|s| with_artifact(s, |a| format!("{} bytes", a.size)))}</dd>
                    <dt>"SHA-256"</dt><dd class="mono small" data-testid="artifact-sha256">{move || stage.with(|s| with_artifact(s, |a| a.sha256.clone()))}</dd>
                </dl>
            </Show>
            {move || upload_error.get().map(|e| view! { <p class="banner error" data-testid="artifact-error">{move || tr(&e)}</p> })}
            <div class="row">
                <label>{t("Base image", "基础镜像")}
                    <select data-testid="field-base-image"
                        prop:value=move || stage.with(|s| with_artifact(s, |a| a.base_image.clone()))
                        on:change=move |ev| { let v = event_target_value(&ev); stage.update(|s| set_artifact(s, |a| a.base_image = v)) }>
                        {move || ctx.options.get().base_images.into_iter().map(|b| {
                            let this = b.name.clone();
                            view! { <option value=b.name.clone() selected=move || stage.with(|s| with_artifact(s, |a| a.base_image.clone()) == this)>{format!("{} ({})", b.name, b.image)}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>{t("Port", "端口")}
                    <input type="number" min="1" max="65535" data-testid="field-artifact-port"
                        prop:value=move || stage.with(|s| with_artifact(s, |a| a.port.to_string()))
                        on:input=move |ev| { let v = event_target_value(&ev).trim().parse::<u16>().unwrap_or(0); stage.update(|s| set_artifact(s, |a| a.port = v)) }/>
                </label>
            </div>
            <label>{t("Start command (run in /app; a jar or war: java -jar when empty)", "启动命令(在 /app 中执行;jar 或 war 留空则为 java -jar)")}
                <input class="mono" data-testid="field-start-command"
                    prop:value=move || stage.with(|s| with_artifact(s, |a| a.start_command.clone()))
                    on:input=move |ev| { let v = event_target_value(&ev); stage.update(|s| set_artifact(s, |a| a.start_command = v)) }/>
            </label>
            <p class="muted">{t("A zip is unpacked into /app; a jar or war is kept there under its name. Build and quality stages are skipped for an uploaded artifact; the Dockerfile is written for it (see below).", "zip 包解压到 /app;jar 或 war 以原文件名放在 /app。上传制品时跳过构建和质量检查阶段;Dockerfile 由平台生成(见下方)。")}</p>
        </Show>
    }
}

fn card_fields(kind: Option<StageKind>, stage: RwSignal<Stage>, ctx: CardCtx) -> AnyView {
    let options = ctx.options;
    let skipped = move || {
        ctx.from_artifact.get().then(|| view! {
            <p class="muted" data-testid="stage-skipped">{t("Skipped: the source is an uploaded artifact.", "已跳过:源码为上传的制品。")}</p>
        })
    };
    match kind {
        Some(StageKind::Source) => view! { <SourceFields stage ctx/> }.into_any(),
        Some(StageKind::Build) => view! {
            {skipped}
            {input(t("Builder image", "构建镜像"), "field-build-image", stage, |s| s.build.as_ref().map(|x| x.image.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.build.as_mut() { x.image = v })}
            {input(t("Build command", "构建命令"), "field-build-command", stage, |s| s.build.as_ref().map(|x| x.command.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.build.as_mut() { x.command = v })}
        }.into_any(),
        Some(StageKind::Quality) => view! {
            {skipped}
            {input(t("Sonar server URL", "Sonar 服务地址"), "field-sonar-url", stage, |s| s.quality.as_ref().map(|x| x.server_url.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.quality.as_mut() { x.server_url = v })}
            <div class="row">
                {input(t("Token Secret (key: token)", "令牌 Secret(键 token)"), "field-sonar-secret", stage, |s| s.quality.as_ref().and_then(|x| x.token_secret.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.quality.as_mut() { x.token_secret = Some(v).filter(|v| !v.is_empty()) })}
                {input(t("Project key (default: app)", "项目键(默认应用名)"), "field-sonar-key", stage, |s| s.quality.as_ref().map(|x| x.project_key.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.quality.as_mut() { x.project_key = v })}
            </div>
            {checkbox(t("A failed quality gate blocks deploying", "质量门禁失败时禁止部署"), "field-sonar-block", stage, |s| s.quality.as_ref().is_some_and(|x| x.block_on_fail), |s, v| if let Some(x) = s.quality.as_mut() { x.block_on_fail = v })}
        }.into_any(),
        Some(StageKind::Tools) => view! {
            <p class="muted">{t("Installed into the image, so you can prove a problem is in the app, not the platform.", "打包进镜像,用于证明问题出在应用而非平台。")}</p>
            <div class="row wrap">
                {TOOLS.iter().map(|tool| {
                    let name = tool.name;
                    view! {
                        <label class="check" title=tool.description>
                            <input type="checkbox" data-testid=format!("tool-{name}")
                                prop:checked=move || stage.with(|s| s.tools.as_ref().is_some_and(|x| x.tools.iter().any(|t| t == name)))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    stage.update(|s| if let Some(x) = s.tools.as_mut() {
                                        x.tools.retain(|t| t != name);
                                        if on { x.tools.push(name.to_string()); }
                                    });
                                }/>
                            {name}
                        </label>
                    }
                }).collect_view()}
            </div>
        }.into_any(),
        Some(StageKind::Image) => view! {
            <div class="row">
                <label>{t("Registry", "镜像仓库")}
                    <select data-testid="field-registry"
                        prop:value=move || stage.with(|s| s.image.as_ref().map(|x| x.registry.clone()).unwrap_or_default())
                        on:change=move |ev| { let v = event_target_value(&ev); stage.update(|s| if let Some(x) = s.image.as_mut() { x.registry = v }) }>
                        <option value="">{t("choose…", "请选择…")}</option>
                        {move || options.get().registries.into_iter().map(|r| {
                            let this = r.name.clone();
                            view! { <option value=r.name.clone() selected=move || stage.with(|s| s.image.as_ref().is_some_and(|x| x.registry == this))>{format!("{} ({})", r.name, r.host)}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {input(t("Repository", "仓库路径"), "field-repository", stage, |s| s.image.as_ref().map(|x| x.repository.clone()).unwrap_or_default(), |s, v| if let Some(x) = s.image.as_mut() { x.repository = v })}
            </div>
            <Show when=move || !ctx.from_artifact.get() fallback=|| view! {
                <p class="muted" data-testid="dockerfile-written">{t("The Dockerfile is written for the uploaded artifact: its base image, /app, its port and start command.", "Dockerfile 根据上传的制品生成:基础镜像、/app、端口和启动命令。")}</p>
            }>
                <label>"Dockerfile"
                    <textarea class="mono" rows="8" data-testid="field-dockerfile"
                        prop:value=move || stage.with(|s| s.image.as_ref().map(|x| x.dockerfile.clone()).unwrap_or_default())
                        on:input=move |ev| { let v = event_target_value(&ev); stage.update(|s| if let Some(x) = s.image.as_mut() { x.dockerfile = v }) }></textarea>
                </label>
            </Show>
        }.into_any(),
        Some(StageKind::Deploy) => view! {
            {checkbox(t("Deploy automatically when the run succeeds (else: a button on the run)", "运行成功后自动部署(否则在运行页点击部署)"), "field-deploy-auto", stage, |s| s.deploy.as_ref().is_some_and(|x| x.auto), |s, v| if let Some(x) = s.deploy.as_mut() { x.auto = v })}
        }.into_any(),
        None => view! { <p class="banner error">{t("This stage has no kind.", "该阶段类型无效。")}</p> }.into_any(),
    }
}

#[component]
pub fn PipelineDesigner() -> impl IntoView {
    let tenant = param("tenant");
    let route_ns = param("ns");
    let route_name = param("name");
    let is_new = Memo::new(move |_| route_name.get().is_empty());
    let Live {
        data,
        error: live_error,
        link,
    } = use_pipelines(tenant);
    let can_change = use_tenant_access(tenant).can_change;
    let namespaces = use_tenant_access(tenant).namespaces;

    let namespace = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let app = RwSignal::new(String::new());
    let cards = RwSignal::new(Vec::<Card>::new());
    let next_id = StoredValue::new(0u64);
    let loaded = RwSignal::new(false);
    let options = RwSignal::new(DesignerOptions::default());
    let errors = RwSignal::new(Vec::<wharf_api::Text>::new());
    let notice = RwSignal::new(None::<String>);
    let webhook = ServerAction::<PipelineWebhook>::new();
    let navigate = use_navigate();

    // NB: a card's signal belongs to the page, not to whatever made the card (the effect
    // below): an effect drops what it made each time it runs again, and the cards would be
    // gone under the form the next time the live feed moved.
    let page_owner = StoredValue::new(Owner::current());
    let new_card = move |stage: Stage| {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        let stage = page_owner.with_value(|owner| match owner {
            Some(owner) => owner.with(|| RwSignal::new(stage)),
            None => RwSignal::new(stage),
        });
        Card { id, stage }
    };
    let set_stages =
        move |stages: Vec<Stage>| cards.set(stages.into_iter().map(new_card).collect());

    let asked_options = LocalResource::new(move || pipeline_options(tenant.get()));
    let options_error = RwSignal::new(None::<AppError>);
    Effect::new(move |_| match asked_options.get() {
        Some(Ok(o)) => options.set(o),
        Some(Err(e)) => options_error.set(Some(e)),
        None => {}
    });
    // A new pipeline starts as clone → build → image → deploy; an existing one is loaded once
    // from the live feed (later snapshots do not overwrite what is being edited).
    Effect::new(move |_| {
        if loaded.get_untracked() {
            return;
        }
        if is_new.get() {
            let mut image = Stage::new(StageKind::Image, "image");
            if let (Some(x), Some(first)) = (image.image.as_mut(), options.get().registries.first())
            {
                x.registry = first.name.clone();
            }
            if options.get().registries.is_empty() {
                return; // wait for the options, so the registry is preselected
            }
            set_stages(vec![
                Stage::new(StageKind::Source, "clone"),
                Stage::new(StageKind::Build, "build"),
                image,
                Stage::new(StageKind::Deploy, "deploy"),
            ]);
            if let Some(first) = namespaces.get().first() {
                namespace.set(first.clone());
            }
            loaded.set(true);
        } else if let Some(p) = data.with(|d| {
            d.as_ref().and_then(|d| {
                d.pipelines
                    .iter()
                    .find(|p| p.namespace == route_ns.get() && p.name == route_name.get())
                    .cloned()
            })
        }) {
            namespace.set(p.namespace.clone());
            name.set(p.name.clone());
            app.set(p.spec.app.clone());
            set_stages(p.spec.stages.clone());
            loaded.set(true);
        }
    });
    // The app defaults to the pipeline's name while the user has not chosen one.
    let spec = move || PipelineSpec {
        app: app.get().trim().to_string(),
        stages: cards.get().iter().map(|c| c.stage.get()).collect(),
    };
    let from_artifact = Memo::new(move |_| spec().artifact().is_some());
    let ctx = CardCtx {
        options,
        tenant,
        namespace,
        from_artifact,
    };
    let runs = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|d| {
                    d.pipelines
                        .iter()
                        .find(|p| p.namespace == route_ns.get() && p.name == route_name.get())
                        .map(|p| p.runs.clone())
                })
                .unwrap_or_default()
        })
    });
    let exists = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref().is_some_and(|d| {
                d.pipelines
                    .iter()
                    .any(|p| p.namespace == route_ns.get() && p.name == route_name.get())
            })
        })
    });

    let add = move |kind: StageKind| {
        let taken: Vec<String> =
            cards.with(|c| c.iter().map(|c| c.stage.with(|s| s.name.clone())).collect());
        let kinds: Vec<Option<StageKind>> =
            cards.with(|c| c.iter().map(|c| c.stage.with(Stage::kind)).collect());
        let mut stage = Stage::new(kind, free_name(kind, &taken));
        if let (Some(x), Some(first)) = (
            stage.image.as_mut(),
            options.get_untracked().registries.first(),
        ) {
            x.registry = first.name.clone();
        }
        let at = insert_at(kind, &kinds);
        let card = new_card(stage);
        cards.update(|c| c.insert(at.min(c.len()), card));
    };
    let move_card = move |id: u64, delta: i32| {
        cards.update(|c| {
            if let Some(i) = c.iter().position(|x| x.id == id) {
                let j = i as i32 + delta;
                if j >= 0 && (j as usize) < c.len() {
                    c.swap(i, j as usize);
                }
            }
        })
    };
    let remove_card = move |id: u64| cards.update(|c| c.retain(|x| x.id != id));

    let check = move || {
        let mut problems = Vec::new();
        if is_new.get_untracked() {
            if let Err(e) = validate::pipeline_name(name.get_untracked().trim()) {
                problems.push(e);
            }
        }
        problems.extend(validate::pipeline(&spec(), &options.get_untracked()));
        errors.set(problems.clone());
        problems.is_empty()
    };
    // Saving: a new pipeline opens its page, an existing one says so.
    let save_action = Action::new(
        move |(ns, nm, spec, create): &(String, String, PipelineSpec, bool)| {
            let (tn, ns, nm, spec, create) = (
                tenant.get_untracked(),
                ns.clone(),
                nm.clone(),
                spec.clone(),
                *create,
            );
            async move {
                save_pipeline(tn.clone(), ns.clone(), nm.clone(), spec, create)
                    .await
                    .map(|()| create.then(|| format!("/t/{tn}/pipelines/{ns}/{nm}")))
            }
        },
    );
    let saved = save_action.value();
    Effect::new(move |_| match saved.get() {
        Some(Ok(Some(href))) => navigate(&href, Default::default()),
        Some(Ok(None)) => notice.set(Some(crate::i18n::t_now("Saved.", "已保存。").to_string())),
        _ => {}
    });
    let save = move |_| {
        notice.set(None);
        save_action.clear();
        if !check() {
            return;
        }
        save_action.dispatch((
            namespace.get_untracked(),
            name.get_untracked().trim().to_string(),
            spec(),
            is_new.get_untracked(),
        ));
    };
    let start = use_start_run(tenant);
    let (saving, starting, started) = (save_action.pending(), start.pending(), start.value());
    let busy = Memo::new(move |_| saving.get() || starting.get());
    let run_now = move |_| {
        errors.set(Vec::new());
        start.dispatch((route_ns.get_untracked(), route_name.get_untracked()));
    };
    let action_error = Signal::derive(move || {
        saved
            .get()
            .and_then(Result::err)
            .or_else(|| started.get().and_then(Result::err))
            .or_else(|| options_error.get())
    });
    let webhook_answer = webhook.value();
    let show_webhook = move |_| {
        webhook.dispatch(PipelineWebhook {
            tenant: tenant.get_untracked(),
            namespace: route_ns.get_untracked(),
            name: route_name.get_untracked(),
        });
    };
    let origin = move || {
        #[cfg(feature = "csr")]
        {
            web_sys::window()
                .and_then(|w| w.location().origin().ok())
                .unwrap_or_default()
        }
        #[cfg(not(feature = "csr"))]
        {
            String::new()
        }
    };

    view! {
        <div class="page">
            <div class="page-head">
                <h1>
                    <A href=move || format!("/t/{}/pipelines", tenant.get())>{t("Pipelines", "流水线")}</A>
                    " / "
                    {move || if is_new.get() { t("New pipeline", "新建流水线")().to_string() } else { route_name.get() }}
                    " " <LinkDot link/>
                </h1>
                <div class="spacer"></div>
                <Show when=move || !is_new.get() && can_change.get() && exists.get()>
                    <button class="primary" data-testid="run-pipeline" disabled=move || busy.get() on:click=run_now>{t("Run", "运行")}</button>
                </Show>
            </div>
            <ErrorBanner error=live_error/>
            <Show when=move || !is_new.get() && !loaded.get() && data.with(Option::is_some) && !exists.get()>
                <div class="empty" data-testid="pipeline-gone">{t("This pipeline does not exist (any more).", "该流水线不存在(或已删除)。")}</div>
            </Show>
            <section class="form designer" data-testid="designer">
                <div class="row">
                    <label>{t("Namespace", "命名空间")}
                        <select data-testid="pipeline-namespace" disabled=move || !is_new.get()
                            prop:value=move || namespace.get() on:change=move |ev| namespace.set(event_target_value(&ev))>
                            {move || namespaces.get().into_iter().map(|ns| view! { <option value=ns.clone()>{ns.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>{t("Name", "名称")}
                        <input data-testid="pipeline-name" disabled=move || !is_new.get() placeholder="shop-web" bind:value=name/>
                    </label>
                    <label>{t("App it deploys", "部署到的应用")}
                        <input data-testid="pipeline-app" placeholder="shop-web" bind:value=app/>
                    </label>
                </div>
                <div class="stages" data-testid="stages">
                    <For each=move || cards.get() key=|c| c.id let:card>
                        {
                            let kind = card.stage.with_untracked(Stage::kind);
                            let id = card.id;
                            view! {
                                <div class="card stage-card" data-testid="stage-card" data-kind=kind_label(kind)>
                                    <div class="stage-head">
                                        <span class="badge idle">{kind_label(kind)}</span>
                                        <input class="stage-name" data-testid="stage-name" title="stage name"
                                            prop:value=move || card.stage.with(|s| s.name.clone())
                                            on:input=move |ev| card.stage.update(|s| s.name = event_target_value(&ev))/>
                                        <div class="spacer"></div>
                                        <button class="link" title="move up" data-testid="stage-up" on:click=move |_| move_card(id, -1)>"↑"</button>
                                        <button class="link" title="move down" data-testid="stage-down" on:click=move |_| move_card(id, 1)>"↓"</button>
                                        <button class="link danger" title="remove" data-testid="stage-remove" on:click=move |_| remove_card(id)>"✕"</button>
                                    </div>
                                    {card_fields(kind, card.stage, ctx)}
                                </div>
                            }
                        }
                    </For>
                </div>
                <div class="row wrap add-stage">
                    <span class="muted">{t("Add a stage:", "添加阶段:")}</span>
                    {StageKind::ALL.into_iter().map(|k| view! {
                        <button class="small" data-testid=format!("add-{}", k.label().replace(' ', "-")) on:click=move |_| add(k)>{"+ "}{k.label()}</button>
                    }).collect_view()}
                </div>
                <details data-testid="dockerfile-preview">
                    <summary>{t("The Dockerfile that will be built", "将要构建的 Dockerfile")}</summary>
                    <pre class="mono" data-testid="dockerfile-final">{move || final_dockerfile(&spec(), &options.with(|o| o.base_images.clone())).unwrap_or_default()}</pre>
                </details>
                <Show when=move || !errors.with(Vec::is_empty)>
                    <ul class="banner error" data-testid="pipeline-errors">
                        {move || errors.get().into_iter().map(|e| view! { <li>{move || crate::i18n::tr(&e)}</li> }).collect_view()}
                    </ul>
                </Show>
                <ErrorBanner error=action_error testid="action-error"/>
                {move || notice.get().map(|n| view! { <div class="banner ok" data-testid="notice">{n}</div> })}
                <Show when=move || can_change.get()>
                    <div class="row">
                        <button class="small" data-testid="validate-pipeline" on:click=move |_| {
                            notice.set(None);
                            if check() { notice.set(Some(crate::i18n::t_now("The design is valid.", "设计有效。").to_string())) }
                        }>{t("Check", "校验")}</button>
                        <button class="primary" data-testid="save-pipeline" disabled=move || busy.get() on:click=save>{t("Save", "保存")}</button>
                    </div>
                </Show>
            </section>
            <Show when=move || !is_new.get() && exists.get()>
                <h2>{t("Runs", "运行记录")}</h2>
                {move || if runs.with(Vec::is_empty) {
                    view! { <p class="empty" data-testid="no-runs">{t("Not run yet.", "尚未运行。")}</p> }.into_any()
                } else {
                    view! {
                        <table class="grid" data-testid="runs-table">
                            <thead><tr>
                                <th>{t("Run", "运行")}</th><th>{t("Started by", "触发者")}</th><th>{t("Commit", "提交")}</th>
                                <th>{t("Quality", "质量")}</th><th>{t("Image", "镜像")}</th><th>{t("When", "时间")}</th>
                            </tr></thead>
                            <tbody>
                                {runs.get().into_iter().map(|r| {
                                    let href = format!("/t/{}/pipelines/{}/{}/runs/{}", tenant.get_untracked(), r.namespace, r.pipeline, r.name);
                                    view! {
                                        <tr data-testid="run-row" data-run=r.name.clone()>
                                            <td><A href=href><RunBadge number=r.number phase=r.status.phase/></A></td>
                                            <td>{r.triggered_by.clone()} <span class="muted">" · " {r.reason.clone()}</span></td>
                                            <td class="mono">{r.status.commit.clone().map(|c| c.chars().take(10).collect::<String>())}</td>
                                            <td>{r.status.quality.clone()}</td>
                                            <td class="mono small">{r.status.image.clone()}</td>
                                            <td><Ago at=r.created/></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
                <Show when=move || can_change.get()>
                    <h2>{t("Git webhook", "Git Webhook")}</h2>
                    <p class="muted">{t("Point your git server's push webhook here; a push to the pipeline's branch starts a run.", "在 git 服务器配置推送 Webhook 到此地址;推送到流水线分支即触发运行。")}</p>
                    {move || match webhook_answer.get() {
                        None => view! { <button class="small" data-testid="show-webhook" on:click=show_webhook>{t("Show URL and secret", "显示地址和密钥")}</button> }.into_any(),
                        Some(Ok(w)) => view! {
                            <dl class="kv" data-testid="webhook">
                                <dt>"URL"</dt><dd class="mono" data-testid="webhook-url">{format!("{}{}", origin(), w.path)}</dd>
                                <dt>{t("Secret", "密钥")}</dt><dd class="mono" data-testid="webhook-secret">{w.secret}</dd>
                                <dt>{t("Signature", "签名")}</dt><dd class="muted">"X-Hub-Signature-256 (GitHub, Gitea) · X-Gitlab-Token · X-Wharf-Token"</dd>
                            </dl>
                        }.into_any(),
                        Some(Err(e)) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="webhook-error"/> }.into_any(),
                    }}
                </Show>
            </Show>
        </div>
    }
}
