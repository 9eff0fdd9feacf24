import Foundation
import Synchronization

/// Helper threads that run the parts of one parallel loop at a time beside the calling thread.
///
/// Kernels hand over work every few microseconds during a model run, faster than a parked thread wakes, so helpers
/// spin for `spinNanoseconds` after each job before parking on a condition variable. Parts are claimed one at a time
/// from the job, so a helper that arrives late finds the caller has done them and costs nothing. One job runs at a
/// time: a caller that finds the pool busy (another worker thread's job) runs its loop alone.
final class SpinningThreadPool: @unchecked Sendable {
    /// One parallel loop: `parts` calls of `body`, claimed through `next`.
    ///
    /// `body` is read only after a successful claim and cleared by the caller only once every claimed part has
    /// finished (`remaining` reached 0), so helpers holding a stale job never see it.
    private final class Job: @unchecked Sendable {
        let parts: Int
        var body: ((Int) -> Void)?
        let next = Atomic<Int>(0)
        let remaining: Atomic<Int>

        init(parts: Int, body: @escaping (Int) -> Void) {
            self.parts = parts
            self.body = body
            remaining = Atomic(parts)
        }

        /// Runs parts until none is left to claim.
        func work() {
            while true {
                let part = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard part < parts else { return }
                body!(part)
                remaining.wrappingSubtract(1, ordering: .releasing)
            }
        }
    }

    /// Threads besides the caller.
    let helperCount: Int
    private let spinNanoseconds: UInt64
    private let generation = Atomic<Int>(0)
    private let current = Mutex<Job?>(nil)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var sleepers = 0  // guarded by `condition`
    private var stopping = false  // guarded by `condition`

    init(helpers: Int, spinNanoseconds: UInt64 = 200_000) {
        helperCount = helpers
        self.spinNanoseconds = spinNanoseconds
        for index in 0..<helpers {
            let thread = Thread { [self] in helperLoop() }
            thread.name = "zserve-intra-op-\(index)"
            thread.start()
        }
    }

    /// Stops the helpers once they finish what they run; the pool must not be used afterwards.
    func shutdown() {
        condition.lock()
        stopping = true
        generation.wrappingAdd(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body(0..<parts)` across the caller and the helpers; returns when every part has finished.
    func run(parts: Int, _ body: (Int) -> Void) {
        guard parts > 1, helperCount > 0,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for part in 0..<parts { body(part) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            let job = Job(parts: parts, body: body)
            current.withLock { $0 = job }
            generation.wrappingAdd(1, ordering: .releasing)
            condition.lock()
            if sleepers > 0 { condition.broadcast() }
            condition.unlock()
            job.work()
            while job.remaining.load(ordering: .acquiring) > 0 {}
            current.withLock { $0 = nil }
            job.body = nil
        }
    }

    private func helperLoop() {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            var start: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins & 1023 == 0 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if start == 0 {
                    start = now
                } else if now - start > spinNanoseconds {
                    condition.lock()
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    sleepers -= 1
                    condition.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            condition.lock()
            let stop = stopping
            condition.unlock()
            if stop { return }
            current.withLock { $0 }?.work()
        }
    }
}
