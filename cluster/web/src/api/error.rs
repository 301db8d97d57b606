//! The HTTP status and kind of each refusal of the scheduler.

use axum::http::StatusCode;
use flicker_http::ApiError;
use flicker_protocol::scheduler::RequestError;

/// `error` as an HTTP answer: its status, a stable kind, and its message.
pub fn api_error(error: RequestError) -> ApiError {
    let (status, kind) = match &error {
        RequestError::InvalidJob { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_job"),
        RequestError::UnknownJob { .. } => (StatusCode::NOT_FOUND, "not_found"),
        RequestError::AlreadyEnded { .. } => (StatusCode::CONFLICT, "already_ended"),
        RequestError::UnknownPlugin { .. } => (StatusCode::NOT_FOUND, "unknown_plugin"),
        RequestError::DigestMismatch { .. } => (StatusCode::BAD_REQUEST, "digest_mismatch"),
        RequestError::NotAComponent { .. } => (StatusCode::BAD_REQUEST, "not_a_component"),
        RequestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        RequestError::OverLimit { .. } => (StatusCode::TOO_MANY_REQUESTS, "over_limit"),
        RequestError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
        RequestError::NotRegistered { .. } | RequestError::BadRequest { .. } => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
    };
    ApiError::new(status, kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::JobId;
    use flicker_protocol::status::JobState;

    #[test]
    fn refusals_keep_their_message_under_a_fitting_status() {
        let missing = api_error(RequestError::UnknownJob { job: JobId("job-1".into()) });
        assert_eq!((missing.status, missing.kind), (StatusCode::NOT_FOUND, "not_found"));
        assert_eq!(missing.message, "there is no job job-1");
        let ended =
            api_error(RequestError::AlreadyEnded { job: JobId("j".into()), state: JobState::Succeeded });
        assert_eq!(ended.status, StatusCode::CONFLICT);
        let refused = api_error(RequestError::Forbidden { reason: "no".into() });
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
}
