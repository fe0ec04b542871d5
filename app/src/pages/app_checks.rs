//! The app page's health checks: the deploy form's three checks, filled from the app and saved
//! as a rollout. A check set in YAML beyond what the form shows is named, not edited.

use crate::components::banner::Outcome;
use crate::error::AppError;
use crate::i18n::t;
use crate::pages::deploy_parts::{probe_texts, ProbeEditor, ProbeRow};
use crate::workloads::pod::ProbesForm;
use crate::workloads::{app_probes, SetAppProbes};
use leptos::prelude::*;
use wharf_api::{text, Text};

#[component]
pub fn AppChecks(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    can_change: Memo<bool>,
) -> impl IntoView {
    let rows = [
        ("readiness", ProbeRow::new("off", "/")),
        ("liveness", ProbeRow::new("off", "/")),
        ("startup", ProbeRow::new("off", "/")),
    ];
    let outcome = RwSignal::new(None::<Result<Text, AppError>>);
    let save = ServerAction::<SetAppProbes>::new();
    let saved = save.version();
    let current = Resource::new(
        move || (tenant.get(), ns.get(), name.get(), saved.get()),
        |(t, n, a, _)| app_probes(t, n, a),
    );
    let custom = RwSignal::new(Vec::<String>::new());
    // the inputs follow the app when it is read (again after a save)
    Effect::new(move |_| match current.get() {
        Some(Ok(p)) => {
            for (which, row) in rows {
                let form = p.probes.each().into_iter().find(|(w, _)| *w == which);
                row.show(form.and_then(|(_, f)| f));
            }
            custom.set(p.custom.clone());
        }
        Some(Err(e)) => outcome.set(Some(Err(e))),
        None => {}
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(())) => outcome.set(Some(Ok(text!(
            "Saved: the pods are replaced with the new checks",
            "已保存:Pod 将以新的检查逐个替换"
        )))),
        Some(Err(e)) => outcome.set(Some(Err(e))),
        None => {}
    });
    let do_save = move |_| {
        let mut problems = Vec::new();
        let [r, l, s] = rows.map(|(which, row)| row.form(&probe_texts(which).0, &mut problems));
        if !problems.is_empty() {
            outcome.set(Some(Err(AppError::Invalid(Text::join(
                &problems, "; ", ";",
            )))));
            return;
        }
        outcome.set(None);
        save.dispatch(SetAppProbes {
            tenant: tenant.get_untracked(),
            namespace: ns.get_untracked(),
            name: name.get_untracked(),
            probes: ProbesForm {
                readiness: r,
                liveness: l,
                startup: s,
            },
        });
    };
    view! {
        <h2>{t("Health checks", "健康检查")}</h2>
        <fieldset class="probes" data-testid="app-probes" disabled=move || !can_change.get()>
            {rows.into_iter().map(|(which, row)| {
                let (label, hint) = probe_texts(which);
                view! {
                    <Show when=move || !custom.with(|c| c.iter().any(|w| w == which))
                        fallback=move || view! {
                            <p class="muted" data-testid=format!("probe-{which}-custom")>
                                {move || crate::i18n::tr(&probe_texts(which).0)} ": "
                                {t("set in the YAML beyond what this form shows; edit it there", "在 YAML 中的设置超出了此表单,请在 YAML 中修改")}
                            </p>
                        }>
                        <ProbeEditor which label=label.clone() hint=hint.clone() row/>
                    </Show>
                }
            }).collect_view()}
            <Show when=move || can_change.get()>
                <button data-testid="probes-save" on:click=do_save disabled=move || save.pending().get()>
                    {t("Save checks", "保存检查")}
                </button>
            </Show>
        </fieldset>
        <Outcome outcome ok_testid="probes-saved" error_testid="probes-error"/>
    }
}
