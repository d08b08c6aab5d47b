//! Why a gateway could not start. (Errors while answering a request are answered, not raised.)

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not load the catalogue")]
    Db(#[from] flashsale_core::db::DbError),
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    #[error("could not read the revoked sessions")]
    Sessions(#[from] flashsale_core::sessions::SessionError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the gateway server stopped unexpectedly: {0}")]
    Server(String),
}
