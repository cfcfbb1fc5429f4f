extension Duration {
    /// The duration in (fractional) seconds, at least a nanosecond so rates never divide by zero.
    var seconds: Double {
        max(Double(components.seconds) + Double(components.attoseconds) / 1e18, 1e-9)
    }
}
