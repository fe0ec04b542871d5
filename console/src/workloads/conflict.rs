//! Writing an edit of an object that carries the resourceVersion read, again after a 409
//! Conflict while nobody changed the object's spec (client-go's `RetryOnConflict`).
//!
//! NB: on a live cluster the controllers write an app's status all the time (a rollout several
//! times a second), so the resourceVersion an edit was made from is often stale by the time it
//! is written, and so can be the one read after a conflict. As long as `metadata.generation`
//! is what was first read, only the status moved: the edit still applies to what the user saw,
//! and is made again on a fresh read. A moved generation is someone else's change, never
//! overwritten; an object without a generation (a ConfigMap) gives no such proof, so a
//! conflict on it is not retried.

use std::future::Future;
use wharf_api::error::AppError;

/// How many times an edit is written before a run of conflicts is given up (client-go's
/// `DefaultRetry` makes as many).
const ATTEMPTS: usize = 5;

/// Writes `first` (an edit, with the generation it was made from) with `write`; after a 409
/// reads the object again with `read` and, while its generation is the first one, writes
/// that, [`ATTEMPTS`] writes in all.
///
/// `write` answers `Err` for the caller's own refusal (nothing is written) and `Ok` with the
/// API server's answer. `Ok(None)` is a conflict that stands — the generation moved (or is not
/// known), or the attempts ran out — and the caller says so in its own words; a caller with
/// more to compare than the generation gives `None` for it from `read` to end the retry.
///
/// NB: plain closures that return futures, not async closures: the future of a server
/// function must be `Send`, which the compiler cannot yet prove through `AsyncFnMut`.
pub async fn retry_on_conflict<E, T, R, W>(
    first: (E, Option<i64>),
    mut read: impl FnMut() -> R,
    mut write: impl FnMut(E) -> W,
) -> Result<Option<T>, AppError>
where
    R: Future<Output = Result<(E, Option<i64>), AppError>>,
    W: Future<Output = Result<kube::Result<T>, AppError>>,
{
    let (mut edit, generation) = first;
    for attempt in 1..=ATTEMPTS {
        match write(edit).await? {
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            answer => return Ok(Some(answer?)),
        }
        if attempt == ATTEMPTS {
            break;
        }
        let now;
        (edit, now) = read().await?;
        if generation.is_none() || now != generation {
            break;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::ready;
    use wharf_api::text;

    fn conflict() -> kube::Error {
        let mut status = kube::core::Status::failure("the object has been modified", "Conflict");
        status.code = 409;
        kube::Error::Api(status.boxed())
    }

    /// The retry's answer and how many writes it made, when the reads give `generations` (the
    /// first is the edit's own) and each write answers 409 but the `succeeds_at`th (from 1).
    async fn run(
        generations: &[Option<i64>],
        succeeds_at: usize,
    ) -> (Result<Option<usize>, AppError>, usize) {
        let mut reads = generations.iter().copied();
        let mut writes = 0;
        let first = (0, reads.next().unwrap());
        let result = retry_on_conflict(
            first,
            || ready(Ok((0, reads.next().unwrap()))),
            |_| {
                writes += 1;
                ready(Ok(if writes == succeeds_at {
                    Ok(writes)
                } else {
                    Err(conflict())
                }))
            },
        )
        .await;
        (result, writes)
    }

    #[tokio::test]
    async fn a_conflict_is_written_again_while_the_generation_stays() {
        let same = [Some(3); 5];
        assert_eq!(run(&same, 3).await.0, Ok(Some(3)));
        let (result, writes) = run(&same, 99).await;
        assert_eq!(
            (result, writes),
            (Ok(None), ATTEMPTS),
            "five writes, then given up"
        );
    }

    #[tokio::test]
    async fn a_moved_or_unknown_generation_ends_the_retry() {
        let moved = [Some(3), Some(3), Some(4), Some(4), Some(4)];
        assert_eq!(run(&moved, 99).await, (Ok(None), 2));
        let unknown = [None; 5];
        assert_eq!(run(&unknown, 99).await, (Ok(None), 1));
    }

    #[tokio::test]
    async fn the_callers_refusal_and_other_errors_end_it_at_once() {
        let refused = retry_on_conflict(
            (0, Some(1)),
            || ready(Ok((0, Some(1)))),
            |_| {
                ready(Err::<kube::Result<()>, _>(AppError::Invalid(text!(
                    "no", "不"
                ))))
            },
        )
        .await;
        assert!(matches!(refused, Err(AppError::Invalid(_))), "{refused:?}");
        let mut gone = kube::core::Status::failure("not found", "NotFound");
        gone.code = 404;
        let mut answer = Some(kube::Error::Api(gone.boxed()));
        let failed = retry_on_conflict(
            (0, Some(1)),
            || ready(Ok((0, Some(1)))),
            |_| ready(Ok(Err::<(), _>(answer.take().unwrap()))),
        )
        .await;
        assert!(matches!(failed, Err(AppError::NotFound(_))), "{failed:?}");
    }
}
