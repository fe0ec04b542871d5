//! [`Changes`]: a page section's changes of one kind, through one action: busy while one runs,
//! its outcome shown in the section (see `banner::Outcome`), the section read again after a
//! success. The alerts page, the administration pages and the tenant's page use it.

use crate::error::AppError;
use leptos::prelude::*;
use wharf_api::Text;

/// A section's changes (silences, receivers, members…): one action of the section's kind of
/// change `I`; busy while one runs, its outcome shown in the section, the section read again
/// after a success.
pub struct Changes<I: Send + Sync + 'static> {
    pub action: Action<I, Result<(Text, I), AppError>>,
    pub busy: Memo<bool>,
    pub message: RwSignal<Option<Result<Text, AppError>>>,
}

impl<I: Send + Sync + 'static> Clone for Changes<I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I: Send + Sync + 'static> Copy for Changes<I> {}

impl<I: Clone + Send + Sync + 'static> Changes<I> {
    /// `send` asks the server for a change; `done` says what a success means (en, zh), and
    /// `after` runs after one (clearing a form).
    pub fn new<Fu>(
        tick: RwSignal<u64>,
        send: impl Fn(I) -> Fu + Send + Sync + 'static,
        done: fn(&I) -> (&'static str, &'static str),
        after: impl Fn(&I) + 'static,
    ) -> Self
    where
        Fu: std::future::Future<Output = Result<(), AppError>> + Send + 'static,
    {
        let action = Action::new(move |change: &I| {
            let (en, zh) = done(change);
            let said = Text::new(en, zh);
            let (change, sent) = (change.clone(), send(change.clone()));
            async move { sent.await.map(|()| (said, change)) }
        });
        let message = RwSignal::new(None);
        let answer = action.value();
        Effect::new(move |_| match answer.get() {
            Some(Ok((said, change))) => {
                message.set(Some(Ok(said)));
                after(&change);
                tick.update(|n| *n += 1);
            }
            Some(Err(e)) => message.set(Some(Err(e))),
            None => {}
        });
        Changes {
            action,
            busy: action.pending(),
            message,
        }
    }

    pub fn run(self, change: I) {
        self.message.set(None);
        self.action.dispatch(change);
    }

    /// A problem found before asking the server.
    pub fn refuse(self, why: Text) {
        self.message.set(Some(Err(AppError::Invalid(why))));
    }
}
