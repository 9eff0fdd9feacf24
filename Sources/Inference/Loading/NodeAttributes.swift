import ONNXSchema

/// Typed access to one node's attributes, remembering which ones a kernel read.
///
/// Kernels read every attribute they implement; the loader then refuses the node if any attribute was left unread,
/// so an attribute the runtime would silently ignore is reported at load time instead.
public final class NodeAttributes {
    private let byName: [String: Onnx_AttributeProto]
    private var read: Set<String> = []
    /// Operator name and node name, for error messages.
    let nodeLabel: String

    init(_ attributes: [Onnx_AttributeProto], nodeLabel: String) throws {
        var byName: [String: Onnx_AttributeProto] = [:]
        for attribute in attributes {
            if !attribute.refAttrName.isEmpty {
                throw InferenceError.unsupported(["\(nodeLabel): attribute reference '\(attribute.name)'"])
            }
            byName[attribute.name] = attribute
        }
        self.byName = byName
        self.nodeLabel = nodeLabel
    }

    /// Whether the node sets `name`.
    public func has(_ name: String) -> Bool {
        read.insert(name)
        return byName[name] != nil
    }

    /// An INT attribute without marking it read (for load-time passes other than the kernel's), or nil when absent
    /// or not an INT.
    func peekInt(_ name: String) -> Int? {
        guard let attribute = byName[name], !attribute.hasType || attribute.type == .int else { return nil }
        return Int(attribute.i)
    }

    /// An INT attribute, or `defaultValue` when absent.
    public func int(_ name: String, default defaultValue: Int) throws -> Int {
        try int(name) ?? defaultValue
    }

    /// An INT attribute, or nil when absent.
    public func int(_ name: String) throws -> Int? {
        guard let attribute = try lookup(name, .int) else { return nil }
        return Int(attribute.i)
    }

    /// A FLOAT attribute, or `defaultValue` when absent.
    public func float(_ name: String, default defaultValue: Float) throws -> Float {
        guard let attribute = try lookup(name, .float) else { return defaultValue }
        return attribute.f
    }

    /// An INTS attribute, or nil when absent.
    public func ints(_ name: String) throws -> [Int]? {
        guard let attribute = try lookup(name, .ints) else { return nil }
        return attribute.ints.map { Int($0) }
    }

    /// A FLOATS attribute, or nil when absent.
    public func floats(_ name: String) throws -> [Float]? {
        guard let attribute = try lookup(name, .floats) else { return nil }
        return attribute.floats
    }

    /// A STRING attribute, or nil when absent.
    public func string(_ name: String) throws -> String? {
        guard let attribute = try lookup(name, .string) else { return nil }
        return String(decoding: attribute.s, as: UTF8.self)
    }

    /// A STRINGS attribute, or nil when absent.
    public func strings(_ name: String) throws -> [String]? {
        guard let attribute = try lookup(name, .strings) else { return nil }
        return attribute.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    /// A TENSOR attribute, or nil when absent.
    public func tensor(_ name: String) throws -> Tensor? {
        guard let attribute = try lookup(name, .tensor) else { return nil }
        return try Tensor(onnx: attribute.t)
    }

    /// A GRAPH attribute (the body of a control-flow node), or nil when absent.
    func graph(_ name: String) throws -> Onnx_GraphProto? {
        guard let attribute = try lookup(name, .graph) else { return nil }
        return attribute.g
    }

    /// Whether the node has a GRAPH or GRAPHS attribute (is a control-flow node), without marking anything read.
    var hasGraphs: Bool {
        byName.values.contains { $0.type == .graph || $0.type == .graphs || $0.hasG }
    }

    /// Names of attributes the node sets that no kernel code asked for.
    var unread: [String] {
        byName.keys.filter { !read.contains($0) }.sorted()
    }

    private func lookup(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        read.insert(name)
        guard let attribute = byName[name] else { return nil }
        // Old exporters leave `type` unset; trust the field then.
        if attribute.hasType && attribute.type != type {
            throw InferenceError.invalidModel("\(nodeLabel): attribute '\(name)' must be \(type), is \(attribute.type)")
        }
        return attribute
    }
}
