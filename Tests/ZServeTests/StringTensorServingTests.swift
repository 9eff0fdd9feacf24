import Foundation
import ServingProtocol
import Testing
import ZServeClient
import ZServeTesting

/// String tensors through a real server and the Swift client: the request fuzzer's "words" model (StringConcat and a
/// string LabelEncoder) answers strings and codes, and the typed wire-tensor helpers read and write what the protocol
/// carries.
@Suite struct StringTensorServingTests {
    @Test func theSwiftClientSendsAndReadsStringTensors() throws {
        let repository = try TemporaryRepository()
        try repository.add("words", bytes: try RequestFuzzHarness.wordsModel())
        let running = try RunningServer(repository: repository)
        let client = try running.client()
        let words = ["web", "", "Straße", "app", "🛒 basket"]
        let response = try client.predict(.with {
            $0.model.name = "words"
            $0.inputs = [Zserve_V1_Tensor(name: "w", strings: words, shape: [words.count])]
        })
        let outputs = Dictionary(uniqueKeysWithValues: response.outputs.map { ($0.name, $0) })
        #expect(outputs["shout"]?.dtype == .string)
        #expect(outputs["shout"]?.stringValues == words.map { $0 + "!" })
        #expect(outputs["code"]?.int64Values == [1, -1, -1, 2, -1])

        let metadata = try client.modelMetadata(name: "words")
        #expect(metadata.inputs.map(\.dtype) == [.string])
    }

    @Test func typedTensorsRoundTripAndRefuseWhatDoesNotFit() {
        let floats = Zserve_V1_Tensor(name: "x", float32: [1, -2.5, 3], shape: [1, 3])
        #expect(floats.float32Values == [1, -2.5, 3])
        #expect(floats.int64Values == nil && floats.stringValues == nil)
        #expect(Zserve_V1_Tensor(name: "i", int64: [7, -8], shape: [2]).int64Values == [7, -8])
        var strings = Zserve_V1_Tensor(name: "s", strings: ["a", "ü"], shape: [2, 1])
        #expect(strings.stringValues == ["a", "ü"])
        strings.shape = [3]
        #expect(strings.stringValues == nil, "a count that does not fit the shape")
        strings.shape = [2]
        strings.stringData[1] = Data([0xff])
        #expect(strings.stringValues == nil, "an entry that is not UTF-8")
        var truncated = floats
        truncated.rawData = truncated.rawData.dropLast()
        #expect(truncated.float32Values == nil)
    }
}
