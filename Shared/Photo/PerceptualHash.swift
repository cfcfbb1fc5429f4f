/// A 64-bit difference hash (dHash): the image shrunk to 9×8 grey cells, one bit per horizontally adjacent pair
/// (1 when the left cell is darker than the right), rows top to bottom, most significant bit first.
///
/// Re-encoding, resizing and small brightness changes keep most bits; different photos differ in about half.
package struct PerceptualHash: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The 64 bits.
    package var bits: UInt64

    /// Wraps `bits`.
    package init(bits: UInt64) { self.bits = bits }

    /// Parses 16 hex digits.
    package init?(hex: String) {
        guard hex.utf8.count == 16, let bits = UInt64(hex, radix: 16) else { return nil }
        self.bits = bits
    }

    /// 16 lowercase hex digits, as carried in `EvidenceRef.perceptualHash`.
    package var hex: String {
        let digits = String(bits, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    package var description: String { hex }

    /// The number of differing bits.
    package func distance(to other: PerceptualHash) -> Int { (bits ^ other.bits).nonzeroBitCount }

    /// The hash of the 9×8 cell means `cells` (row-major, 72 values).
    package init(cells: [Double]) {
        precondition(cells.count == 72)
        var bits: UInt64 = 0
        for row in 0..<8 {
            for column in 0..<8 {
                bits <<= 1
                if cells[row * 9 + column] < cells[row * 9 + column + 1] { bits |= 1 }
            }
        }
        self.bits = bits
    }
}

/// Averages grey pixels into 9×8 cells while rows stream in (a box filter), so decoders never hold more than a row.
package struct CellAccumulator {
    private let width: Int
    private let height: Int
    private var sums = [Double](repeating: 0, count: 72)
    private var counts = [Int](repeating: 0, count: 72)
    /// The cell column of each pixel column.
    private let columnCell: [Int]

    /// Starts for an image of `width` × `height` pixels.
    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
        columnCell = (0..<width).map { $0 * 9 / width }
    }

    /// Adds row `y` of grey values.
    package mutating func add(row y: Int, grey: UnsafeBufferPointer<UInt8>) {
        let base = (y * 8 / height) * 9
        var rowSums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        var rowCounts = (0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &rowSums) { sumBytes in
            withUnsafeMutableBytes(of: &rowCounts) { countBytes in
                let s = sumBytes.bindMemory(to: Double.self)
                let c = countBytes.bindMemory(to: Int.self)
                for x in 0..<min(width, grey.count) {
                    let cell = columnCell[x]
                    s[cell] += Double(grey[x])
                    c[cell] += 1
                }
                for cell in 0..<9 {
                    sums[base + cell] += s[cell]
                    counts[base + cell] += c[cell]
                }
            }
        }
    }

    /// The hash; cells no pixel fell into (images under 9×8) take the nearest filled cell to their left or above.
    package var hash: PerceptualHash {
        var means = [Double](repeating: 0, count: 72)
        for index in 0..<72 {
            if counts[index] > 0 {
                means[index] = sums[index] / Double(counts[index])
            } else if index % 9 > 0 {
                means[index] = means[index - 1]
            } else if index >= 9 {
                means[index] = means[index - 9]
            }
        }
        return PerceptualHash(cells: means)
    }
}
