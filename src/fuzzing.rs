//! Entry points for the fuzz targets in fuzz/ (cargo feature `fuzzing`, off by
//! default): parsers that the public API does not reach on their own.

use crate::auth::Sms;
use crate::config::ConnectorConfig;
use crate::connector::http::{HttpConnector, Provider};
use crate::connector::{Delivery, DeliveryError, preset};

pub use crate::connector::http::Answer;
pub use crate::connector::template::{Values, fill_json, fill_percent};
pub use crate::state::numbers::{decode_numbers, encode_numbers};
pub use crate::state::record::{DecodeError, decode, salvage_backup_codes};

/// How the connector configured by `config` judges a gateway's answer: the
/// generic `http` connector and every provider preset; None for other types.
pub fn judge(config: &ConnectorConfig, answer: &Answer, sms: &Sms<'_>) -> Option<Result<Delivery, DeliveryError>> {
    match config {
        ConnectorConfig::Http(h) => Some(HttpConnector::new(h.clone()).judge(answer, sms)),
        other => preset::provider(other).map(|(p, _)| p.judge(answer, sms)),
    }
}

/// A Redis reply as the store's connection reads it (framed, then decoded).
pub use crate::state::redis::resp::{Value as RedisValue, parse as parse_redis_reply};
