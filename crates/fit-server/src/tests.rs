use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

async fn get_json(path: &str) -> (StatusCode, serde_json::Value) {
    let response = app(AppState::default()).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn health_answers_with_the_protocol_versions_it_speaks() {
    let (status, body) = get_json("/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"status": "ok", "protocol": {"min": 1, "max": 1}}));
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_with_a_code() {
    let (status, body) = get_json("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "route.not_found");
}
