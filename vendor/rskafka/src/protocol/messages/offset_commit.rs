//! `FindCoordinator` and `OffsetCommit`: enough to commit a standalone consumer's offsets to a
//! consumer group (generation `-1`, no member id), the way Kafka's own tools and Spark commit
//! offsets they keep elsewhere, so lag shows in the group tooling.
//!
//! Added for lakegate (not upstream rskafka).
//!
//! # References
//! - <https://kafka.apache.org/protocol#The_Messages_FindCoordinator>
//! - <https://kafka.apache.org/protocol#The_Messages_OffsetCommit>
use std::io::{Read, Write};

use crate::protocol::{
    api_key::ApiKey,
    api_version::{ApiVersion, ApiVersionRange},
    error::Error as ApiError,
    messages::{read_versioned_array, write_versioned_array},
    primitives::{Int8, Int16, Int32, Int64, NullableString, String_},
    traits::{ReadType, WriteType},
};

use super::{
    ReadVersionedError, ReadVersionedType, RequestBody, WriteVersionedError, WriteVersionedType,
};

#[derive(Debug)]
pub struct FindCoordinatorRequest {
    /// The group id.
    pub key: String_,
}

impl<W: Write> WriteVersionedType<W> for FindCoordinatorRequest {
    fn write_versioned(
        &self,
        writer: &mut W,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        let v = version.0.0;
        assert!(v <= 2);
        self.key.write(writer)?;
        if v >= 1 {
            // Key type 0: a consumer group.
            Int8(0).write(writer)?;
        }
        Ok(())
    }
}

impl RequestBody for FindCoordinatorRequest {
    type ResponseBody = FindCoordinatorResponse;
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    const API_VERSION_RANGE: ApiVersionRange =
        ApiVersionRange::new(ApiVersion(Int16(0)), ApiVersion(Int16(2)));
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion = ApiVersion(Int16(3));
}

#[derive(Debug)]
pub struct FindCoordinatorResponse {
    pub throttle_time_ms: Option<Int32>,
    pub error_code: Option<ApiError>,
    pub error_message: Option<NullableString>,
    pub node_id: Int32,
    pub host: String_,
    pub port: Int32,
}

impl<R: Read> ReadVersionedType<R> for FindCoordinatorResponse {
    fn read_versioned(reader: &mut R, version: ApiVersion) -> Result<Self, ReadVersionedError> {
        let v = version.0.0;
        assert!(v <= 2);
        Ok(Self {
            throttle_time_ms: (v >= 1).then(|| Int32::read(reader)).transpose()?,
            error_code: ApiError::new(Int16::read(reader)?.0),
            error_message: (v >= 1).then(|| NullableString::read(reader)).transpose()?,
            node_id: Int32::read(reader)?,
            host: String_::read(reader)?,
            port: Int32::read(reader)?,
        })
    }
}

#[derive(Debug)]
pub struct OffsetCommitRequestPartition {
    pub partition_index: Int32,
    pub committed_offset: Int64,
    pub committed_metadata: NullableString,
}

impl<W: Write> WriteVersionedType<W> for OffsetCommitRequestPartition {
    fn write_versioned(
        &self,
        writer: &mut W,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        let v = version.0.0;
        assert!((2..=7).contains(&v));
        self.partition_index.write(writer)?;
        self.committed_offset.write(writer)?;
        if v >= 6 {
            // Leader epoch unknown.
            Int32(-1).write(writer)?;
        }
        self.committed_metadata.write(writer)?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct OffsetCommitRequestTopic {
    pub name: String_,
    pub partitions: Vec<OffsetCommitRequestPartition>,
}

impl<W: Write> WriteVersionedType<W> for OffsetCommitRequestTopic {
    fn write_versioned(
        &self,
        writer: &mut W,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        self.name.write(writer)?;
        write_versioned_array(writer, version, Some(&self.partitions))?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct OffsetCommitRequest {
    pub group_id: String_,
    pub topics: Vec<OffsetCommitRequestTopic>,
}

impl<W: Write> WriteVersionedType<W> for OffsetCommitRequest {
    fn write_versioned(
        &self,
        writer: &mut W,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        let v = version.0.0;
        assert!((2..=7).contains(&v));
        self.group_id.write(writer)?;
        // A standalone consumer: no generation, no member.
        Int32(-1).write(writer)?;
        String_(String::new()).write(writer)?;
        if v >= 7 {
            NullableString(None).write(writer)?;
        }
        if v <= 4 {
            // Broker's default retention.
            Int64(-1).write(writer)?;
        }
        write_versioned_array(writer, version, Some(&self.topics))?;
        Ok(())
    }
}

impl RequestBody for OffsetCommitRequest {
    type ResponseBody = OffsetCommitResponse;
    const API_KEY: ApiKey = ApiKey::OffsetCommit;
    const API_VERSION_RANGE: ApiVersionRange =
        ApiVersionRange::new(ApiVersion(Int16(2)), ApiVersion(Int16(7)));
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion = ApiVersion(Int16(8));
}

#[derive(Debug)]
pub struct OffsetCommitResponsePartition {
    pub partition_index: Int32,
    pub error_code: Option<ApiError>,
}

impl<R: Read> ReadVersionedType<R> for OffsetCommitResponsePartition {
    fn read_versioned(reader: &mut R, _version: ApiVersion) -> Result<Self, ReadVersionedError> {
        Ok(Self {
            partition_index: Int32::read(reader)?,
            error_code: ApiError::new(Int16::read(reader)?.0),
        })
    }
}

#[derive(Debug)]
pub struct OffsetCommitResponseTopic {
    pub name: String_,
    pub partitions: Vec<OffsetCommitResponsePartition>,
}

impl<R: Read> ReadVersionedType<R> for OffsetCommitResponseTopic {
    fn read_versioned(reader: &mut R, version: ApiVersion) -> Result<Self, ReadVersionedError> {
        Ok(Self {
            name: String_::read(reader)?,
            partitions: read_versioned_array(reader, version)?.unwrap_or_default(),
        })
    }
}

#[derive(Debug)]
pub struct OffsetCommitResponse {
    pub throttle_time_ms: Option<Int32>,
    pub topics: Vec<OffsetCommitResponseTopic>,
}

impl<R: Read> ReadVersionedType<R> for OffsetCommitResponse {
    fn read_versioned(reader: &mut R, version: ApiVersion) -> Result<Self, ReadVersionedError> {
        let v = version.0.0;
        assert!((2..=7).contains(&v));
        Ok(Self {
            throttle_time_ms: (v >= 3).then(|| Int32::read(reader)).transpose()?,
            topics: read_versioned_array(reader, version)?.unwrap_or_default(),
        })
    }
}
