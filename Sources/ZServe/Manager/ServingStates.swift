import Logging

/// Labels and pinned defaults of every model: the one owner of that state. Each change is saved to the model's
/// serving.json (so a restart serves the same way) and mirrored into the registry (which serves reads).
///
/// Owned by the model manager thread.
struct ServingStates {
    private var states: [String: ServingState] = [:]

    /// The saved state of `model` (empty when none).
    func state(of model: String) -> ServingState { states[model] ?? ServingState() }

    /// Reads `model`'s serving.json into this book and the registry.
    ///
    /// - Throws: `ModelStoreError.invalidConfiguration` for a file that does not parse (the model then starts with
    ///   no labels and no pinned default).
    mutating func restore(_ model: String, from store: ModelStore, into registry: ModelRegistry) throws {
        let state = try store.servingState(of: model)
        states[model] = state
        for (label, target) in state.labels { registry.setLabel(name: model, label: label, target: target) }
        registry.pinDefault(name: model, version: state.defaultVersion)
    }

    /// Points `label` of `model` at a target (nil removes the label).
    mutating func setLabel(_ label: String, of model: String, to target: LabelTarget?, _ context: Context) {
        states[model, default: ServingState()].labels[label] = target
        context.registry.setLabel(name: model, label: label, target: target)
        save(model, context)
    }

    /// Pins the default version of `model` (nil: the newest available serves by default).
    mutating func pinDefault(of model: String, to version: Int64?, _ context: Context) {
        states[model, default: ServingState()].defaultVersion = version
        context.registry.pinDefault(name: model, version: version)
        save(model, context)
    }

    /// Where changes go: the registry that serves them and the store that keeps them.
    struct Context {
        let registry: ModelRegistry
        let store: ModelStore
        let logger: Logger
    }

    /// Saves `model`'s state; a failure is logged (the change is live but would not survive a restart).
    private func save(_ model: String, _ context: Context) {
        do {
            try context.store.saveServingState(state(of: model), of: model)
        } catch {
            context.logger.error("could not save serving state", metadata: ["model": "\(model)", "error": "\(error)"])
        }
    }
}
