public import LogflumeWire

extension Broker {
    /// Produce: validates and appends each partition's batches. Errors are per partition; with
    /// acks=0 the caller sends no response at all.
    public func produce(_ request: ProduceRequest, version: Int16) -> ProduceResponse {
        let now = clock.nowMilliseconds
        let refusal: (KafkaErrorCode, String)? =
            if ![-1, 0, 1].contains(request.acks) {
                (.invalidRequiredAcks, "acks must be -1, 0 or 1, not \(request.acks)")
            } else if request.transactionalId != nil {
                (.transactionalIdAuthorizationFailed, "transactions are not supported by this broker")
            } else {
                nil
            }
        return ProduceResponse(responses: request.topicData.map { topicData in
            ProduceResponse.TopicResponse(name: topicData.name, partitionResponses: topicData.partitionData.map { data in
                var result: Partition.AppendResult
                if let (code, message) = refusal {
                    result = .failed(code, message)
                } else if let partition = topics.partition(topicData.name, data.index) {
                    if let records = data.records {
                        result = partition.append(records: records, requiredAcks: request.acks, now: now)
                    } else {
                        result = .failed(.invalidRecord, "records are null")
                    }
                } else {
                    result = .failed(.unknownTopicOrPartition, "\(topicData.name)-\(data.index) does not exist")
                }
                if result.error != .none {
                    logger.debug("produce refused", metadata: [
                        "partition": "\(topicData.name)-\(data.index)", "error": "\(result.error)", "reason": "\(result.errorMessage ?? "")",
                    ])
                }
                return ProduceResponse.PartitionResponse(
                    index: data.index, errorCode: result.error.rawValue, baseOffset: result.baseOffset,
                    logAppendTimeMs: result.logAppendTime, logStartOffset: result.logStartOffset,
                    recordErrors: result.recordErrors.map { .init(batchIndex: $0.0, batchIndexErrorMessage: $0.1) },
                    errorMessage: result.error == .none ? nil : result.errorMessage
                )
            })
        })
    }

    /// InitProducerId for idempotent producers: a fresh id at epoch 0. Transactional ids are
    /// refused until transactions exist.
    public func initProducerId(_ request: InitProducerIdRequest) -> InitProducerIdResponse {
        if request.transactionalId != nil {
            return InitProducerIdResponse(errorCode: KafkaErrorCode.transactionalIdAuthorizationFailed.rawValue)
        }
        do {
            return InitProducerIdResponse(errorCode: 0, producerId: try producerIds.next(), producerEpoch: 0)
        } catch {
            logger.error("cannot allocate a producer id", metadata: ["error": "\(error)"])
            return InitProducerIdResponse(errorCode: KafkaErrorCode.kafkaStorageError.rawValue)
        }
    }
}
