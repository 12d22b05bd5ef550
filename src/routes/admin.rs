//! The operators' API (issue 17), which the `/admin` page uses and a script can use with
//! the same key: every node's stats record merged into one overview, draining and resuming
//! a node, closing a room. Every call needs an API key ([`Moderator`]); every action is
//! written to the audit log (target `audit`) with the key's label.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chat_actors::admin::AdminCommand;
use chat_actors::cluster::Broker;
use chat_actors::ids::RoomCode;
use chat_actors::stats::sampler::{is_fresh, sampled_within};
use chat_actors::stats::{merge, NodeState, NodeStats};
use chat_actors::{ChatError, ErrorCode};

use crate::auth::Moderator;
use crate::error::ApiResult;
use crate::openapi::schemas::ErrorBody;
use crate::routes::bodies::{NodeChanged, Overview, RoomClosed};
use crate::routes::messages::room_record;
use crate::state::AppState;

/// A record silent this long belongs to a node that is gone (killed without a goodbye):
/// the overview removes it from Redis.
const FORGET_AFTER: Duration = Duration::from_secs(60);
/// The longest node id the drain and resume paths accept.
const NODE_ID_MAX: usize = 128;

/// `GET /api/admin/overview`: every live node's latest stats record and the busiest rooms.
#[utoipa::path(
    get,
    path = "/api/admin/overview",
    operation_id = "adminOverview",
    tag = "operators",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Every node that sent a record within three stats intervals, sorted by id, and the busiest rooms across them (at most 20). Without Redis, or while it is down, only this node.", body = Overview),
        (status = 401, description = "`unauthorized`: no valid API key (a node without keys refuses every request).", body = ErrorBody),
    )
)]
pub async fn overview(_: Moderator, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let hub = &state.hub;
    let interval = hub.stats_interval;
    let now = chrono::Utc::now();
    let mut records = cluster_records(&state).await;
    records.retain(|record| record.node != hub.node_id);
    let forget: Vec<String> = records
        .iter()
        .filter(|record| !sampled_within(record, FORGET_AFTER, now))
        .map(|record| record.node.clone())
        .collect();
    if let (false, Some(broker)) = (forget.is_empty(), hub.cluster.broker()) {
        let broker = std::sync::Arc::clone(broker);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(broker.timeout, broker.forget_stats(&forget)).await;
        });
    }
    records.retain(|record| is_fresh(record, interval, now));
    if let Some(mut own) = hub.stats.latest() {
        own.state = hub.state();
        records.push(own);
    }
    let (nodes, rooms) = merge(records);
    Ok(HttpResponse::Ok().json(Overview {
        ok: true,
        node: hub.node_id.clone(),
        interval: interval.as_secs_f64(),
        nodes,
        rooms,
    }))
}

/// The other nodes' records from Redis; none on a single node, or when Redis fails.
async fn cluster_records(state: &AppState) -> Vec<NodeStats> {
    let Some(broker) = state.hub.cluster.broker() else {
        return Vec::new();
    };
    match tokio::time::timeout(broker.timeout, broker.read_stats()).await {
        Ok(Ok(records)) => records,
        Ok(Err(error)) => {
            tracing::warn!(%error, "the nodes' stats records could not be read");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("reading the nodes' stats records timed out");
            Vec::new()
        }
    }
}

/// `POST /api/admin/nodes/{node}/drain`: the node tells its sessions to reconnect to the
/// other nodes (spread over its drain window), refuses new ones and fails its readiness
/// probe, until resumed or restarted.
#[utoipa::path(
    post,
    path = "/api/admin/nodes/{node}/drain",
    operation_id = "drainNode",
    tag = "operators",
    security(("apiKey" = [])),
    params(("node" = String, Path, description = "The node's id, as the overview lists it.")),
    responses(
        (status = 202, description = "The node was told; it drains now (its next record says `draining`).", body = NodeChanged),
        (status = 401, description = "`unauthorized`: no valid API key.", body = ErrorBody),
        (status = 404, description = "`not_found`: no live node has this id.", body = ErrorBody),
        (status = 503, description = "`unavailable`: Redis did not take the command; nothing changed.", body = ErrorBody),
    )
)]
pub async fn drain(
    moderator: Moderator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let node = path.into_inner();
    let command = AdminCommand::Drain { node: node.clone() };
    command_node(&moderator, &state, node, command, NodeState::Draining).await
}

/// `POST /api/admin/nodes/{node}/resume`: a drained node takes sessions again.
#[utoipa::path(
    post,
    path = "/api/admin/nodes/{node}/resume",
    operation_id = "resumeNode",
    tag = "operators",
    security(("apiKey" = [])),
    params(("node" = String, Path, description = "The node's id, as the overview lists it.")),
    responses(
        (status = 202, description = "The node was told; it is ready again (unless it is shutting down).", body = NodeChanged),
        (status = 401, description = "`unauthorized`: no valid API key.", body = ErrorBody),
        (status = 404, description = "`not_found`: no live node has this id.", body = ErrorBody),
        (status = 503, description = "`unavailable`: Redis did not take the command, or this node is shutting down.", body = ErrorBody),
    )
)]
pub async fn resume(
    moderator: Moderator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let node = path.into_inner();
    let command = AdminCommand::Resume { node: node.clone() };
    command_node(&moderator, &state, node, command, NodeState::Ready).await
}

/// Carries out a drain or resume (audited) here, or hands it to the named node through
/// Redis; answers 202 with the state the node goes to.
async fn command_node(
    moderator: &Moderator,
    state: &AppState,
    node: String,
    command: AdminCommand,
    goes_to: NodeState,
) -> ApiResult<HttpResponse> {
    tracing::info!(target: "audit", key = %moderator.label, action = command.action(), %node);
    let hub = &state.hub;
    let unknown = || ChatError::new(ErrorCode::NotFound, "no live node has this id");
    if node == hub.node_id {
        if !chat_actors::admin::apply(hub, command) {
            return Err(
                ChatError::new(ErrorCode::Unavailable, "this node is shutting down").into(),
            );
        }
    } else {
        let broker = hub
            .cluster
            .broker()
            .filter(|_| node.len() <= NODE_ID_MAX)
            .ok_or_else(unknown)?;
        let now = chrono::Utc::now();
        let known = cluster_records(state)
            .await
            .iter()
            .any(|record| record.node == node && is_fresh(record, hub.stats_interval, now));
        if !known {
            return Err(unknown().into());
        }
        publish(broker, &command)
            .await
            .map_err(|()| ChatError::unavailable())?;
    }
    Ok(HttpResponse::Accepted().json(NodeChanged {
        ok: true,
        node,
        state: goes_to,
    }))
}

/// Publishes an operator's command to every node, within the broker's timeout; a failure
/// is logged here.
async fn publish(broker: &Broker, command: &AdminCommand) -> Result<(), ()> {
    match tokio::time::timeout(broker.timeout, broker.publish_admin(command)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(%error, ?command, "an operator's command was not published");
            Err(())
        }
        Err(_) => {
            tracing::warn!(?command, "publishing an operator's command timed out");
            Err(())
        }
    }
}

/// `DELETE /api/admin/rooms/{code}`: closes a room for good. Its members on every node are
/// told to reconnect and their rejoin answers `not_found`; the code answers `not_found`
/// from now on; with retention on, the next sweep deletes its messages.
#[utoipa::path(
    delete,
    path = "/api/admin/rooms/{code}",
    operation_id = "closeRoom",
    tag = "operators",
    security(("apiKey" = [])),
    params(("code" = String, Path, description = "The room's code, any case.", example = "K7QX2M")),
    responses(
        (status = 200, description = "Closed.", body = RoomClosed),
        (status = 401, description = "`unauthorized`: no valid API key.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such room, not a room code, or closed already.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this address looked up too many unknown rooms.", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot take the change now; nothing changed.", body = ErrorBody),
    )
)]
pub async fn close_room(
    moderator: Moderator,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let code = RoomCode::parse(&path.into_inner())?;
    let record = room_record(&state, &req, code).await?;
    let room_id = record.room.id;
    tracing::info!(target: "audit", key = %moderator.label, action = "close_room", room = %code);
    match state.hub.store.close_room(room_id).await {
        Ok(true) => {}
        Ok(false) => return Err(ChatError::room_not_found().into()),
        Err(error) => {
            tracing::warn!(%error, "closing a room failed");
            return Err(ChatError::unavailable().into());
        }
    }
    let command = AdminCommand::CloseRoom { room_id, code };
    if let Some(broker) = state.hub.cluster.broker() {
        // The other nodes' actors of the room stop on this; should it be lost, their next
        // commit into the room fails (`not_found`) and their members' rejoin too.
        let _ = publish(broker, &command).await;
    }
    let _ = chat_actors::admin::apply(&state.hub, command);
    Ok(HttpResponse::Ok().json(RoomClosed { ok: true, code }))
}
