//! The webhook secrets, parsed once per isolate (`shell::settings`). Parsing them derives HMAC's
//! keyed states, so this spares every request two SHA-256 blocks as well as the parse.

use std::cell::RefCell;
use std::rc::Rc;

use shared::ingress::signature::{WebhookSecrets, SECRET_ENV};
use shared::logging::{Level, LogLine};
use shell::log::Logger;
use shell::settings::{memo, raw, Memo};
use worker::Env;

thread_local! {
    static SECRETS: Memo<WebhookSecrets> = const { RefCell::new(None) };
}

/// The configured webhook secrets. A weak one (see `WebhookSecrets::weakness`) is reported in an
/// error line when the secrets are parsed, once per isolate: it still verifies, and one line per
/// request would drown the log.
pub fn webhook_secrets(env: &Env, logger: &Logger<'_>) -> Rc<WebhookSecrets> {
    let (secrets, fresh) = memo(&SECRETS, raw(env, SECRET_ENV), WebhookSecrets::parse);
    // Only when just parsed: judging the secrets' strength is not free, and the answer is the same.
    if let Some(weakness) = fresh.then(|| secrets.weakness()).flatten() {
        logger
            .emit(&LogLine::new(Level::Error, "producer_misconfigured").with("problems", weakness));
    }
    secrets
}
