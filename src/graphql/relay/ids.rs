//! Opaque global IDs (`base64("Organization:<uuid>")`), as Relay's `Node` interface wants.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::ApiError;

/// The entity kinds that implement `Node`; the name is part of the global ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Broker,
    Organization,
    Tenant,
    User,
    Service,
    ServiceSubscription,
    ServiceAccount,
    AuditEvent,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Broker,
        Kind::Organization,
        Kind::Tenant,
        Kind::User,
        Kind::Service,
        Kind::ServiceSubscription,
        Kind::ServiceAccount,
        Kind::AuditEvent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Broker => "Broker",
            Kind::Organization => "Organization",
            Kind::Tenant => "Tenant",
            Kind::User => "User",
            Kind::Service => "Service",
            Kind::ServiceSubscription => "ServiceSubscription",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::AuditEvent => "AuditEvent",
        }
    }
}

pub fn encode(kind: Kind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id)))
}

/// Decodes any global ID; `None` when it is not one of ours.
pub fn decode(id: &str) -> Option<(Kind, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (name, uuid) = text.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    Some((kind, Uuid::parse_str(uuid).ok()?))
}

/// Decodes an ID argument of any kind; a malformed one is bad input naming `field`. The one
/// place that refusal is worded.
pub fn decode_input(id: &ID, field: &str) -> Result<(Kind, Uuid), ApiError> {
    decode(id).ok_or_else(|| {
        ApiError::bad_input(field, format!("`{}` is not a valid global ID", id.as_str()))
    })
}

/// Decodes an ID argument that must name a `kind`. A malformed ID is bad input; an ID of another
/// kind is reported as `None`, like an ID that does not exist.
pub fn decode_as(kind: Kind, id: &ID, field: &str) -> Result<Option<Uuid>, ApiError> {
    let (k, uuid) = decode_input(id, field)?;
    Ok((k == kind).then_some(uuid))
}

/// Decodes an ID an input must name: malformed is bad input, an ID of another kind is not
/// found (as an unknown one would be).
pub fn required(kind: Kind, id: &ID, field: &str) -> Result<Uuid, ApiError> {
    decode_as(kind, id, field)?.ok_or_else(|| ApiError::not_found(kind.name()))
}

/// The kind named by an entity type as the audit trail records it.
pub fn kind_named(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|kind| kind.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_id_is_refused_in_one_wording_and_another_kind_is_not_found() {
        let uuid = Uuid::now_v7();
        for garbage in ["garbage", "", "Zm9vOmJhcg"] {
            let error = decode_input(&ID::from(garbage), "filter.entityId").unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT");
            assert_eq!(
                error.message(),
                format!("`{garbage}` is not a valid global ID")
            );
            assert!(
                matches!(&error, ApiError::BadUserInput { field: Some(f), .. } if f == "filter.entityId")
            );
            assert!(decode_as(Kind::Broker, &ID::from(garbage), "id").is_err());
        }
        let broker = encode(Kind::Broker, uuid);
        assert_eq!(decode_input(&broker, "id").ok(), Some((Kind::Broker, uuid)));
        assert_eq!(
            decode_as(Kind::Broker, &broker, "id").ok(),
            Some(Some(uuid))
        );
        assert_eq!(decode_as(Kind::Tenant, &broker, "id").ok(), Some(None));
    }

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let uuid = Uuid::now_v7();
        for kind in Kind::ALL {
            assert_eq!(decode(&encode(kind, uuid)), Some((kind, uuid)));
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "x", "Tm9wZTox", &URL_SAFE_NO_PAD.encode("Planet:123")] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        let other = encode(Kind::Broker, Uuid::now_v7());
        assert_eq!(decode_as(Kind::Tenant, &other, "id"), Ok(None));
        assert!(decode_as(Kind::Tenant, &ID::from("nope"), "id").is_err());
    }
}
