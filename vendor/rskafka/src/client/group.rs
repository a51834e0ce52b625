//! Committing offsets kept elsewhere to a consumer group, as a standalone consumer (no group
//! membership, generation `-1`). Added for lakegate, which keeps a topic's offsets in the lake and
//! commits them to the group only so the usual group tooling shows its lag.
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::{
    client::{
        Error, Result,
        error::{ProtocolError, RequestContext},
    },
    connection::{BrokerCache, BrokerConnection, BrokerConnector, MetadataLookupMode},
    protocol::{
        messages::{
            FindCoordinatorRequest, OffsetCommitRequest, OffsetCommitRequestPartition,
            OffsetCommitRequestTopic,
        },
        primitives::{Int32, Int64, NullableString, String_},
    },
};

/// A consumer group's coordinator, found once and found again after a failure.
#[derive(Debug)]
pub struct GroupClient {
    brokers: Arc<BrokerConnector>,
    group: String,
    coordinator: Mutex<Option<BrokerConnection>>,
}

impl GroupClient {
    pub(super) fn new(brokers: Arc<BrokerConnector>, group: String) -> Self {
        Self {
            brokers,
            group,
            coordinator: Mutex::new(None),
        }
    }

    /// Commits `next offset` per partition of `topic` (the offset of the next record to read, as
    /// Kafka consumers commit). One attempt: a failure drops the coordinator so the next call
    /// looks it up again.
    pub async fn commit_offsets(&self, topic: &str, offsets: &[(i32, i64)]) -> Result<()> {
        let mut guard = self.coordinator.lock().await;
        let coordinator = match guard.as_ref() {
            Some(c) => Arc::clone(c),
            None => {
                let c = self.find_coordinator().await?;
                *guard = Some(Arc::clone(&c));
                c
            }
        };
        let request = OffsetCommitRequest {
            group_id: String_(self.group.clone()),
            topics: vec![OffsetCommitRequestTopic {
                name: String_(topic.to_owned()),
                partitions: offsets
                    .iter()
                    .map(|(p, o)| OffsetCommitRequestPartition {
                        partition_index: Int32(*p),
                        committed_offset: Int64(*o),
                        committed_metadata: NullableString(None),
                    })
                    .collect(),
            }],
        };
        let response = match coordinator.request(&request).await {
            Ok(r) => r,
            Err(e) => {
                guard.take();
                return Err(e.into());
            }
        };
        for t in response.topics {
            for p in t.partitions {
                if let Some(protocol_error) = p.error_code {
                    if matches!(
                        protocol_error,
                        ProtocolError::NotCoordinator | ProtocolError::CoordinatorNotAvailable
                    ) {
                        guard.take();
                    }
                    return Err(Error::ServerError {
                        protocol_error,
                        error_message: None,
                        request: RequestContext::Partition(t.name.0, p.partition_index.0),
                        response: None,
                        is_virtual: false,
                    });
                }
            }
        }
        Ok(())
    }

    async fn find_coordinator(&self) -> Result<BrokerConnection> {
        let (broker, _) = (&*self.brokers).get().await?;
        let response = broker
            .request(&FindCoordinatorRequest {
                key: String_(self.group.clone()),
            })
            .await?;
        if let Some(protocol_error) = response.error_code {
            return Err(Error::ServerError {
                protocol_error,
                error_message: response.error_message.and_then(|s| s.0),
                request: RequestContext::Topic(format!("group {}", self.group)),
                response: None,
                is_virtual: false,
            });
        }
        let id = response.node_id.0;
        if let Some(c) = self.brokers.connect(id).await? {
            return Ok(c);
        }
        // The coordinator is not in the topology we know yet: learn it, then connect.
        self.brokers
            .request_metadata(&MetadataLookupMode::ArbitraryBroker, Some(vec![]))
            .await?;
        self.brokers.connect(id).await?.ok_or_else(|| {
            Error::InvalidResponse(format!(
                "coordinator {id} of group {} not in the cluster's metadata",
                self.group
            ))
        })
    }
}
