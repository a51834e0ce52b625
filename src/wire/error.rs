//! Engine errors as the Postgres wire sends them (ErrorResponse fields); their SQLSTATEs come
//! from the engine (`engine::error`).

use pgwire::error::{ErrorInfo, PgWireError};

use crate::engine::EngineError;
pub use crate::engine::error::{SqlState, sqlstate};
use crate::engine::error::{client_message, position};

pub fn error_info(e: &EngineError, sql: Option<&str>) -> ErrorInfo {
    let state = sqlstate(e);
    crate::metrics::metrics().query_error(state.code());
    let mut info = ErrorInfo::new("ERROR".into(), state.code().into(), client_message(e));
    info.position = position(e, sql);
    if state == SqlState::InternalError {
        tracing::error!(error = %e, "internal error");
    }
    info
}

pub fn to_pgwire(e: EngineError, sql: Option<&str>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e, sql)))
}
