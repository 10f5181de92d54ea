//! The batch calls (`onboard_many`, `offboard_many`, `reissue_many`): one signed request for
//! many changes of one kind to one target, each item answered with its own status.

use dps_core::{EnvironmentError, Target};
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::environment::{
    Failure, MAX_ANSWER_BYTES, WebhookEnvironment, backoff, circuit_open, malformed, refused,
};
use crate::target::shown;
use crate::wire;

/// The bytes a batch answer may hold beyond [`MAX_ANSWER_BYTES`], per item.
const MAX_ITEM_ANSWER_BYTES: usize = 4 * 1024;

impl WebhookEnvironment {
    /// Makes the batch call `name` of `items` to the platform of `target`; one result per
    /// item, in order. A call that fails as a whole is retried whole, as a single call is; an
    /// item whose own result may pass is retried with the others of its kind, in the next
    /// attempt; the attempts run out for all of them together.
    pub(crate) async fn call_many<I: Serialize, A: DeserializeOwned, T>(
        &self,
        target: &Target,
        name: &'static str,
        items: &[I],
        parse: fn(A) -> Result<T, wire::Invalid>,
    ) -> Vec<Result<T, EnvironmentError>> {
        let all = |e: EnvironmentError| items.iter().map(|_| Err(e.clone())).collect();
        let route = match self.route(target) {
            Ok(route) => route,
            Err(e) => return all(e),
        };
        if let Err(open) = route.breaker.admit() {
            return all(circuit_open(route, open));
        }
        let Ok(_slot) = route.slots.acquire().await else {
            return all(EnvironmentError::transient(
                "the environment is shutting down",
            ));
        };
        let config = &route.config;
        let url = shown(&config.url);
        let mut results: Vec<Option<Result<T, EnvironmentError>>> =
            items.iter().map(|_| None).collect();
        let mut left: Vec<usize> = (0..items.len()).collect();
        let mut attempt = 1;
        while !left.is_empty() {
            let batch = wire::Batch {
                call: name,
                target: target.into(),
                items: left.iter().filter_map(|&i| items.get(i)).collect(),
            };
            let outcome = match serde_json::to_vec(&batch) {
                Ok(body) => {
                    let max = MAX_ANSWER_BYTES + left.len() * MAX_ITEM_ANSWER_BYTES;
                    self.attempt(route, None, &body, max).await
                }
                Err(e) => Err(Failure::Rejected(format!("cannot write the request: {e}"))),
            };
            let (message, retry_after, whole) = match outcome {
                Ok(answer) => {
                    route.breaker.succeeded();
                    match take_answer(name, &answer, &mut results, &mut left, parse) {
                        Some(last) => (last, None, false),
                        None => break,
                    }
                }
                Err(Failure::Rejected(reason)) => {
                    route.breaker.succeeded();
                    fill(&mut results, &left, &EnvironmentError::rejected(reason));
                    break;
                }
                Err(Failure::Transient {
                    message,
                    retry_after,
                }) => (message, retry_after, true),
            };
            let wait = retry_after.unwrap_or_else(|| backoff(config, attempt));
            if attempt >= config.attempts || wait > config.max_retry_after {
                if whole {
                    route.breaker.failed();
                }
                tracing::warn!(call = name, %url, attempts = attempt, items = left.len(), %message, "a webhook call failed");
                let e = EnvironmentError::transient(format!(
                    "{name} at {url}: {message} (after {attempt} attempts)"
                ));
                fill(&mut results, &left, &e);
                break;
            }
            tracing::debug!(call = name, %url, attempt, items = left.len(), %message, "retrying a webhook call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(malformed(name, "no result".to_owned()))))
            .collect()
    }
}

/// Takes the results of a batch answer for the items of `left`. An item whose own result
/// may pass on another attempt stays in `left`, and the message of the last of them comes
/// back; `None` when nothing is left to try again (an answer that is not a batch answer for
/// `left` fails all of them).
fn take_answer<A: DeserializeOwned, T>(
    name: &'static str,
    answer: &[u8],
    results: &mut [Option<Result<T, EnvironmentError>>],
    left: &mut Vec<usize>,
    parse: fn(A) -> Result<T, wire::Invalid>,
) -> Option<String> {
    let answers = match serde_json::from_slice::<wire::BatchAnswer>(answer) {
        Ok(a) if a.results.len() == left.len() => a.results,
        Ok(a) => {
            let why = format!("{} results for {} items", a.results.len(), left.len());
            fill(results, left, &malformed(name, why));
            return None;
        }
        Err(e) => {
            fill(results, left, &malformed(name, e.to_string()));
            return None;
        }
    };
    let mut again = Vec::new();
    let mut last = String::new();
    for (i, item) in left.iter().copied().zip(answers) {
        match item_result(name, item, parse) {
            Ok(result) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(result);
                }
            }
            Err(message) => {
                again.push(i);
                last = message;
            }
        }
    }
    *left = again;
    (!left.is_empty()).then_some(last)
}

/// Gives each item of `left` the error `e`.
fn fill<T>(
    results: &mut [Option<Result<T, EnvironmentError>>],
    left: &[usize],
    e: &EnvironmentError,
) {
    for &i in left {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(Err(e.clone()));
        }
    }
}

/// One item's result of a batch call, as the single call's status and answer would be; `Err`
/// with a message when another attempt may pass.
fn item_result<A: DeserializeOwned, T>(
    name: &str,
    item: wire::ItemAnswer,
    parse: fn(A) -> Result<T, wire::Invalid>,
) -> Result<Result<T, EnvironmentError>, String> {
    let Ok(status) = StatusCode::from_u16(item.status) else {
        return Ok(Err(malformed(
            name,
            format!("status {} is not an HTTP status", item.status),
        )));
    };
    let body = item.answer.map_or("null", |raw| raw.get());
    if status.is_success() {
        let parsed = serde_json::from_str::<A>(body)
            .map_err(|e| e.to_string())
            .and_then(parse);
        return Ok(parsed.map_err(|why| malformed(name, why)));
    }
    let json = serde_json::from_str::<Value>(body).ok();
    match refused(status, json.as_ref(), "", None) {
        Failure::Transient { message, .. } => Err(message),
        Failure::Rejected(reason) => Ok(Err(EnvironmentError::rejected(reason))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dps_core::Onboarded;

    /// The outcome of each item of a batch answer, as `onboard_many` takes them.
    fn items(json: &str) -> Vec<Result<Result<Onboarded, EnvironmentError>, String>> {
        let answer: wire::BatchAnswer<'_> = serde_json::from_str(json).unwrap();
        answer
            .results
            .into_iter()
            .map(|item| item_result("onboard_many", item, wire::OnboardAnswer::into_onboarded))
            .collect()
    }

    #[test]
    fn each_item_of_a_batch_answer_means_what_its_status_would_for_a_single_call() {
        let results = items(
            r#"{"results": [
                {"status": 200, "answer": {"asset_id": "a-1", "product_key": "pk", "device_key": "dk", "device_secret": "s"}},
                {"status": 409, "answer": {"reason": "serial is blocked"}},
                {"status": 503, "answer": {"reason": "busy"}},
                {"status": 429},
                {"status": 200, "answer": {"asset_id": 5}},
                {"status": 200},
                {"status": 1000, "answer": {}}
            ]}"#,
        );
        assert_eq!(results.len(), 7);
        let onboarded = results[0].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(onboarded.asset_id.as_str(), "a-1");
        assert_eq!(
            results[1],
            Ok(Err(EnvironmentError::rejected("serial is blocked")))
        );
        let retry = results[2].as_ref().unwrap_err();
        assert!(retry.contains("503") && retry.contains("busy"), "{retry}");
        assert!(results[3].as_ref().unwrap_err().contains("429"));
        for malformed in &results[4..] {
            match malformed {
                Ok(Err(EnvironmentError::Transient { message })) => {
                    assert!(
                        message.contains("malformed answer to onboard_many"),
                        "{message}"
                    );
                }
                other => panic!("not malformed: {other:?}"),
            }
        }
    }
}
