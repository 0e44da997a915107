//! Small, explicit data for tests that need to know every row.

use chrono::Utc;
use entity::enums::{
    OrganizationRole, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{broker, organization, service, subscription, subscription_assignment, tenant, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel};
use uuid::Uuid;

pub async fn broker(db: &impl ConnectionTrait, slug: &str, name: &str) -> broker::Model {
    let now = Utc::now();
    broker::Model {
        id: Uuid::now_v7(),
        slug: slug.into(),
        name: name.into(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert broker")
}

pub async fn organization(
    db: &impl ConnectionTrait,
    broker: &broker::Model,
    name: &str,
    country: &str,
) -> organization::Model {
    let now = Utc::now();
    organization::Model {
        id: Uuid::now_v7(),
        broker_id: broker.id,
        name: name.into(),
        contact_email: format!("it@{}.example", name.to_lowercase().replace(' ', "")),
        country: country.into(),
        registration_number: None,
        vat_number: None,
        customer_number: None,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert organization")
}

pub async fn tenant(
    db: &impl ConnectionTrait,
    organization: &organization::Model,
) -> tenant::Model {
    let now = Utc::now();
    tenant::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        microsoft_tenant_id: Uuid::new_v4(),
        primary_domain: format!("t{}.onmicrosoft.com", organization.id.simple()),
        link_method: TenantLinkMethod::Manual,
        management: TenantManagement::PartnerManaged,
        linked_at: now,
        linked_by: "test".into(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert tenant")
}

pub async fn user(
    db: &impl ConnectionTrait,
    organization: &organization::Model,
    email: &str,
    role: OrganizationRole,
) -> user::Model {
    let now = Utc::now();
    user::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        email: email.into(),
        display_name: email.split('@').next().unwrap_or(email).into(),
        role,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert user")
}

/// A Microsoft service of the broker's catalog.
pub async fn service(
    db: &impl ConnectionTrait,
    broker: &broker::Model,
    name: &str,
    sku: &str,
) -> service::Model {
    service_of(db, broker, name, sku, Vendor::Microsoft).await
}

pub async fn service_of(
    db: &impl ConnectionTrait,
    broker: &broker::Model,
    name: &str,
    sku: &str,
    vendor: Vendor,
) -> service::Model {
    let now = Utc::now();
    service::Model {
        id: Uuid::now_v7(),
        broker_id: broker.id,
        name: name.into(),
        vendor,
        sku: sku.into(),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert service")
}

pub async fn subscription(
    db: &impl ConnectionTrait,
    organization: &organization::Model,
    service: &service::Model,
    quantity: i32,
) -> subscription::Model {
    let now = Utc::now();
    subscription::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        service_id: service.id,
        quantity,
        status: SubscriptionStatus::Active,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert subscription")
}

pub async fn assign(
    db: &impl ConnectionTrait,
    subscription: &subscription::Model,
    user: &user::Model,
) {
    subscription_assignment::Model {
        id: Uuid::now_v7(),
        subscription_id: subscription.id,
        user_id: user.id,
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert assignment");
}
