//! One error type for every HTTP handler: domain outcomes become 4xx with a JSON `{"error": ...}` that says
//! what to fix; our own failures become a 500 whose cause is logged, never returned.

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::engine::Refusal;
use crate::runtime::RuntimeError;

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What to tell the caller.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

/// The body of every error answer, 4xx or 5xx: what went wrong and what to fix (a 5xx's cause stays in the log).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What to fix, in words.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: self.message })).into_response()
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        use StatusCode as S;
        let status = match &e {
            RuntimeError::Invalid(_) => S::BAD_REQUEST,
            RuntimeError::UnknownRequest(_) | RuntimeError::UnknownGrant(_) | RuntimeError::UnknownPrompt => {
                S::NOT_FOUND
            }
            RuntimeError::Lookup(_) | RuntimeError::TooManyItems { .. } => S::UNPROCESSABLE_ENTITY,
            RuntimeError::Replayed => S::CONFLICT,
            RuntimeError::People(p) => match p {
                crate::people::ChangeError::NotFound { .. } => S::NOT_FOUND,
                crate::people::ChangeError::Taken(_) | crate::people::ChangeError::Stale => S::CONFLICT,
            },
            RuntimeError::NotAnApprover { .. } => S::FORBIDDEN,
            RuntimeError::Refused(r) => match r {
                Refusal::NotTheApprover { .. } | Refusal::NotTheRequester { .. } | Refusal::StepUpRequired { .. } => {
                    S::FORBIDDEN
                }
                Refusal::AlreadySettled { .. } | Refusal::ItemSettled { .. } | Refusal::NoActiveGrant => S::CONFLICT,
                Refusal::UnknownPrompt { .. } | Refusal::NothingPending { .. } => S::NOT_FOUND,
                Refusal::EscalationNotAllowed
                | Refusal::BadEscalationTarget { .. }
                | Refusal::DurationTooLong { .. }
                | Refusal::ZeroDuration => S::UNPROCESSABLE_ENTITY,
            },
            RuntimeError::Unavailable => S::SERVICE_UNAVAILABLE,
            RuntimeError::Store(cause) => {
                tracing::error!(error = %cause, "database error while handling a request");
                return ApiError::new(S::INTERNAL_SERVER_ERROR, "internal error; the request was not applied");
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// `axum::Json`, but a malformed body gets the same `{"error": ...}` shape as every other error.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        // axum's own statuses: 415 without a JSON content type, 422 for the wrong shape, 400 for bad
        // syntax, 413 for a body over the limit (one sent without a length is cut off while it is read).
        let status = match &r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, r.body_text())
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body that may be absent: an empty body gives `T::default()`; anything else must be valid JSON.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let status = if e.is_data() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST };
        ApiError::new(status, format!("invalid JSON body: {e}"))
    })
}
