//! HTTP: the embedded web client, the WebSocket endpoint, health, and TLS.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path as UrlPath, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};
use tokio::sync::watch;

use crate::AppState;

/// The web client, embedded so `lectern serve` works from any folder.
static WEB: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web");

/// Content-Security-Policy of every page: only our own scripts, styles and media.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { page("index.html") }))
        .route(
            "/facilitate/{session}",
            get(|_: UrlPath<String>| async { page("facilitate.html") }),
        )
        .route(
            "/watch/{session}",
            get(|_: UrlPath<String>| async { page("watch.html") }),
        )
        .route(
            "/display/{session}",
            get(|_: UrlPath<String>| async { page("display.html") }),
        )
        .route("/recordings", get(|| async { page("library.html") }))
        .route(
            "/replay/{recording}",
            get(|_: UrlPath<String>| async { page("replay.html") }),
        )
        .route("/api/library", get(crate::playback::library))
        .route(
            "/api/recordings/{recording}",
            get(crate::playback::manifest),
        )
        .route("/media/{file}", get(crate::playback::media))
        .route(
            "/api/recordings/{recording}/export",
            axum::routing::post(crate::playback::start_export),
        )
        .route("/api/exports/{job}", get(crate::playback::export_status))
        .route("/exports/{job}", get(crate::playback::export_file))
        .route("/api/me", get(crate::admin_api::me))
        .route(
            "/api/admin/courses",
            get(crate::admin_api::courses).post(crate::admin_api::create_course),
        )
        .route(
            "/api/admin/courses/{course}",
            axum::routing::patch(crate::admin_api::edit_course),
        )
        .route(
            "/api/admin/courses/{course}/sessions",
            get(crate::admin_api::course_sessions).post(crate::admin_api::create_session),
        )
        .route(
            "/api/admin/courses/{course}/roster",
            axum::routing::post(crate::admin_api::import_roster),
        )
        .route(
            "/api/admin/sessions/{session}",
            axum::routing::patch(crate::admin_api::edit_session),
        )
        .route(
            "/api/admin/sessions/{session}/cancel",
            axum::routing::post(crate::admin_api::cancel_session),
        )
        .route(
            "/api/admin/invites",
            get(crate::admin_api::invites).post(crate::admin_api::create_invite),
        )
        .route(
            "/api/admin/invites/{invite}/revoke",
            axum::routing::post(crate::admin_api::revoke_invite),
        )
        .route("/api/admin/audit", get(crate::admin_api::audit))
        .route(
            "/api/admin/recordings/{recording}/erase",
            axum::routing::post(crate::admin_api::erase),
        )
        .route("/api/admin/consents", get(crate::admin_api::consents))
        .route("/admin", get(|| async { page("admin.html") }))
        .route("/course", get(|| async { page("course.html") }))
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(crate::whip::routes())
        .fallback(get(asset))
        .with_state(state)
}

async fn websocket(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    // Signalling frames are small (an SDP is a few KiB): 8 KiB buffers instead of the default
    // 128 KiB each keep an idle connection's memory small when hundreds of viewers are joined.
    ws.max_message_size(crate::ws::TRANSPORT_LIMIT)
        .max_frame_size(crate::ws::TRANSPORT_LIMIT)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| crate::ws::serve_socket(state, socket))
}

/// Counters in the Prometheus text format.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let s = state.sfu.stats();
    let rooms = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .filter(|h| !h.is_closed())
        .count();
    let body = format!(
        "# HELP lectern_rooms Live sessions.\n# TYPE lectern_rooms gauge\nlectern_rooms {rooms}\n\
         # HELP lectern_rtp_packets_in_total RTP packets received from publishers.\n# TYPE lectern_rtp_packets_in_total counter\nlectern_rtp_packets_in_total {}\n\
         # HELP lectern_rtp_packets_forwarded_total RTP packets sent to viewers.\n# TYPE lectern_rtp_packets_forwarded_total counter\nlectern_rtp_packets_forwarded_total {}\n\
         # HELP lectern_rtp_retransmitted_total Packets answered from a retransmission cache.\n# TYPE lectern_rtp_retransmitted_total counter\nlectern_rtp_retransmitted_total {}\n\
         # HELP lectern_keyframe_requests_total Keyframe requests sent to publishers.\n# TYPE lectern_keyframe_requests_total counter\nlectern_keyframe_requests_total {}\n\
         # HELP lectern_inbox_drops_total Datagrams dropped because a room was overloaded.\n# TYPE lectern_inbox_drops_total counter\nlectern_inbox_drops_total {}\n\
         # HELP lectern_send_drops_total Packets dropped because a socket or TCP queue was full.\n# TYPE lectern_send_drops_total counter\nlectern_send_drops_total {}\n\
         # HELP lectern_rtp_slow_path_total Packets forwarded without the SRTP egress (expected 0).\n# TYPE lectern_rtp_slow_path_total counter\nlectern_rtp_slow_path_total {}\n\
         # HELP lectern_recorder_drops_total Packets a recorder could not take because it fell behind.\n# TYPE lectern_recorder_drops_total counter\nlectern_recorder_drops_total {}\n\
         # HELP lectern_whip_sessions Live WHIP ingests.\n# TYPE lectern_whip_sessions gauge\nlectern_whip_sessions {}\n",
        s.packets_in, s.packets_forwarded, s.retransmitted, s.keyframe_requests, s.inbox_drops, s.send_drops, s.slow_path_sends, s.recorder_drops,
        state.whip.count()
    );
    let mut body = body;
    let fanout = state.sfu.fanout();
    body.push_str(
        "# HELP lectern_fanout_seconds Time to forward one incoming packet to all its viewers.\n\
         # TYPE lectern_fanout_seconds histogram\n",
    );
    for (le, count) in &fanout.cumulative {
        let le = le.map_or("+Inf".to_string(), |us| format!("{}", us as f64 / 1e6));
        body.push_str(&format!(
            "lectern_fanout_seconds_bucket{{le=\"{le}\"}} {count}\n"
        ));
    }
    body.push_str(&format!(
        "lectern_fanout_seconds_sum {}\nlectern_fanout_seconds_count {}\n",
        fanout.sum_seconds, fanout.count
    ));
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

fn page(name: &str) -> Response {
    match WEB.get_file(name) {
        Some(f) => file_response(name, f.contents()),
        None => not_found(),
    }
}

async fn asset(uri: axum::http::Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    // The embedded tree cannot be escaped, but refuse anything that looks like a trick anyway.
    if path.is_empty()
        || path.contains("..")
        || path.contains('\\')
        || path.contains("//")
        || path.starts_with('.')
    {
        return not_found();
    }
    match WEB.get_file(path) {
        Some(f) => file_response(path, f.contents()),
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn file_response(path: &str, body: &'static [u8]) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)));
    // Pages and scripts change with each release; revalidate instead of serving stale code.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if path.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            "permissions-policy",
            HeaderValue::from_static("camera=(self), microphone=(self), display-capture=(self)"),
        );
    }
    r
}

pub(crate) async fn tls_config(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    // Several crates link rustls; name the provider once for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

pub(crate) async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    let result = match tls {
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                stopped.await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
            });
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(app.into_make_service())
                .await
                .map_err(anyhow::Error::from)
        }
        None => match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => axum::serve(l, app)
                .with_graceful_shutdown(stopped)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        },
    };
    if let Err(e) = result {
        tracing::error!("web server: {e}");
    }
}
