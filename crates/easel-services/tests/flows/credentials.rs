//! Credential resolution: one rule for every transport.

use easel_services::ErrorKind;
use easel_services::audit::RequestContext;
use easel_services::identity::{Credential, Via};

use crate::support::{Setup, World};

#[tokio::test]
async fn every_presented_credential_must_be_valid() {
    let world = World::new(Setup::default()).await;
    let identity = &world.services.identity;
    let context = RequestContext {
        request_id: Some("req-1".into()),
        ..RequestContext::default()
    };
    let key = Credential::ApiKey(world.api_key.clone());
    let found = identity
        .authenticate(&context, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(found.principal.id, world.user.id);
    assert_eq!(found.via, Via::ApiKey);
    // The same key twice (x-api-key and bearer) names one principal: fine.
    let bearer_key = Credential::bearer(&world.api_key);
    assert_eq!(bearer_key, key);
    identity
        .authenticate(&context, &[key.clone(), bearer_key])
        .await
        .unwrap();
    // A valid key beside an invalid token, in either order: refused and audited.
    for presented in [
        vec![key.clone(), Credential::Bearer("not-a-token".into())],
        vec![Credential::Bearer("not-a-token".into()), key.clone()],
        vec![key.clone(), Credential::ApiKey("ek_forged".into())],
        vec![key.clone(), Credential::Malformed],
    ] {
        let error = identity
            .authenticate(&context, &presented)
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind(), error.code()),
            (ErrorKind::Unauthenticated, "invalid-token"),
            "{presented:?}"
        );
    }
    // A SigV4 caller's API key sent besides is held to the same rule.
    let forged = [Credential::ApiKey("ek_forged".into())];
    let error = identity
        .confirm_presented(&context, &found, &forged)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid-token");
    identity
        .confirm_presented(&context, &found, std::slice::from_ref(&key))
        .await
        .unwrap();
    let events = world.services.audit.list(None, 100).await.unwrap();
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.event == "authentication-failed")
        .collect();
    assert_eq!(failures.len(), 5);
    assert!(
        failures
            .iter()
            .all(|e| e.request_id.as_deref() == Some("req-1"))
    );
    // Nothing presented: unauthenticated, not audited as a failure.
    let error = identity.authenticate(&context, &[]).await.unwrap_err();
    assert_eq!(error.code(), "unauthenticated");
}
