import Foundation
import ProtobufWire
import ServingProtocol
import SwiftProtobuf
import Testing
@testable import ZServe

/// The hand-written Predict codecs on the worker's hot path agree with the generated SwiftProtobuf types: the same
/// fields read, the same payloads refused, the same bytes written.
@Suite struct WireCodecTests {
    /// A deterministic source of test values.
    struct Values {
        var generator: SplitMix64

        init(seed: UInt64) {
            generator = SplitMix64(seed: seed)
        }

        mutating func next() -> UInt64 { generator.next() }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

        mutating func text() -> String {
            let pieces = ["", "a", "ctr", "é", "模型", "🙂", "model-7", " "]
            return (0..<below(4)).map { _ in pieces[below(pieces.count)] }.joined()
        }

        mutating func request() -> Zserve_V1_PredictRequest {
            var values = self
            defer { self = values }
            return .with {
                $0.id = values.text()
                $0.model = .with {
                    $0.name = values.text()
                    $0.version = [0, 1, 7, -3, Int64.max, Int64.min][values.below(6)]
                    $0.label = values.text()
                }
                $0.inputs = (0..<values.below(4)).map { _ in
                    .with {
                        $0.name = values.text()
                        $0.dtype = Zserve_V1_DataType(rawValue: [0, 1, 6, 7, 11, 99][values.below(6)]) ?? .unspecified
                        $0.shape = (0..<values.below(4)).map { _ in [0, 1, 3, 64, -1, Int64.max][values.below(6)] }
                        $0.rawData = Data((0..<values.below(40)).map { _ in UInt8(truncatingIfNeeded: values.next()) })
                    }
                }
                $0.outputNames = (0..<values.below(3)).map { _ in values.text() }
                $0.timeoutUs = [0, 1, 500_000, UInt64.max][values.below(4)]
            }
        }
    }

    func expectSameFields(_ wire: WirePredictRequest, _ message: Zserve_V1_PredictRequest, payload: [UInt8]) {
        #expect(wire.id == message.id)
        #expect(wire.model == message.model.name)
        #expect(wire.version == message.model.version)
        #expect(wire.label == message.model.label)
        #expect(wire.outputNames == message.outputNames)
        #expect(wire.timeoutMicroseconds == message.timeoutUs)
        #expect(wire.inputs.count == message.inputs.count)
        for (input, tensor) in zip(wire.inputs, message.inputs) {
            #expect(input.name == tensor.name)
            #expect(input.dtype == Int32(tensor.dtype.rawValue))
            #expect(input.shape == tensor.shape)
            #expect(Data(payload[input.data]) == tensor.rawData)
        }
    }

    @Test func readsWhatTheGeneratedEncoderWrites() throws {
        var values = Values(seed: 1)
        for _ in 0..<500 {
            let message = values.request()
            let payload: [UInt8] = try message.serializedBytes()
            expectSameFields(try WirePredictRequest(payload: payload), message, payload: payload)
        }
    }

    @Test func skipsUnknownFieldsAndReadsUnpackedShapesAsTheGeneratedDecoderDoes() throws {
        var writer = WireWriter()
        writer.appendStringField(1, "r1")
        writer.appendVarintField(40, 12345)  // unknown varint
        writer.appendStringField(41, "unknown")  // unknown length-delimited
        var tensor = WireWriter()
        tensor.appendStringField(1, "x")
        tensor.appendVarintField(2, 1)
        tensor.appendVarintField(3, 2)  // unpacked shape
        tensor.appendVarintField(3, 3)
        tensor.appendVarintField(9, 1)  // unknown inside a tensor
        let tensorBytes = tensor.finish()
        tensorBytes.withUnsafeBytes { writer.appendBytesField(3, $0) }
        writer.appendStringField(1, "r2")  // the last singular value wins
        let payload = writer.finish()
        let message = try Zserve_V1_PredictRequest(serializedBytes: payload)
        let wire = try WirePredictRequest(payload: payload)
        expectSameFields(wire, message, payload: payload)
        #expect(wire.id == "r2" && wire.inputs.first?.shape == [2, 3])
    }

    @Test func refusesExactlyWhatTheGeneratedDecoderRefuses() throws {
        var values = Values(seed: 2)
        var refused = 0
        for round in 0..<60 {
            let valid: [UInt8] = try values.request().serializedBytes()
            var damaged: [[UInt8]] = (0..<valid.count).map { Array(valid[..<$0]) }  // every truncation
            for _ in 0..<20 where !valid.isEmpty {
                var bytes = valid
                bytes[values.below(bytes.count)] = UInt8(truncatingIfNeeded: values.next())
                damaged.append(bytes)
            }
            if round == 0 {
                damaged.append([0x0A, 0x02, 0xC3, 0x28])  // id with invalid UTF-8
                damaged.append([0x08, 0x01])  // id (field 1) as a varint
                damaged.append([0x1A, 0x02, 0x10, 0x01, 0x28, 0x05])  // inputs holding a varint dtype, then timeout
                damaged.append([0x2A, 0x01, 0x00])  // timeout_us as a length-delimited field
            }
            for payload in damaged {
                let generated = Result { try Zserve_V1_PredictRequest(serializedBytes: payload) }
                let wire = Result { () throws(WireFormatError) in try WirePredictRequest(payload: payload) }
                switch (generated, wire) {
                case (.success(let message), .success(let request)):
                    expectSameFields(request, message, payload: payload)
                case (.failure, .failure):
                    refused += 1
                case (.success, .failure(let error)):
                    Issue.record("refused what the generated decoder reads: \(payload) — \(error)")
                case (.failure(let error), .success):
                    Issue.record("read what the generated decoder refuses: \(payload) — \(error)")
                }
            }
        }
        #expect(refused > 100)
    }

    @Test func writesTheBytesTheGeneratedEncoderWrites() throws {
        var values = Values(seed: 3)
        for _ in 0..<300 {
            let id = values.text(), model = values.text()
            let version = [0, 1, 42, -5][values.below(4)] as Int64
            let tensors: [(String, Int32, [Int], [UInt8])] = (0..<values.below(4)).map { _ in
                (values.text(), [0, 1, 7, 11][values.below(4)], (0..<values.below(4)).map { _ in [0, 1, 300, 1 << 40][values.below(4)] },
                 (0..<values.below(300)).map { _ in UInt8(truncatingIfNeeded: values.next()) })
            }
            let expected: [UInt8] = try Zserve_V1_PredictResponse.with {
                $0.id = id
                $0.model = model
                $0.version = version
                $0.outputs = tensors.map { tensor in
                    .with {
                        $0.name = tensor.0
                        $0.dtype = Zserve_V1_DataType(rawValue: Int(tensor.1))!
                        $0.shape = tensor.2.map(Int64.init)
                        $0.rawData = Data(tensor.3)
                    }
                }
            }.serializedBytes()
            let written = withByteViews(tensors.map(\.3)) { views in
                WirePredictResponse.encode(id: id, model: model, version: version, outputs: zip(tensors, views).map {
                    WirePredictResponse.Output(name: $0.0, dtype: $0.1, shape: $0.2, bytes: $1)
                })
            }
            #expect(written == expected)
        }
    }

    @Test func anOKStatusFrameIsTheGeneratedEncoding() throws {
        for id in ["", "r-1", "模型", String(repeating: "x", count: 300)] {
            let reply = Reply(status: .with { $0.code = .ok; $0.requestID = id }, response: [])
            let expected: [UInt8] = try Zserve_V1_Status.with { $0.code = .ok; $0.requestID = id }.serializedBytes()
            #expect(reply.statusFrame == expected)
        }
    }

    /// Calls `body` with raw views of every array, valid during the call.
    private func withByteViews<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        guard let first = arrays.first else { return body([]) }
        return first.withUnsafeBytes { view in
            withByteViews(Array(arrays.dropFirst())) { rest in body([view] + rest) }
        }
    }
}
