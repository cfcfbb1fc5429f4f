import CPhotoCodecs

/// Why pixels could not be decoded.
package enum DecodeError: Error, Sendable, Equatable {
    /// The compressed data ends early (libjpeg's "Premature end of JPEG file", or a PNG stream without its end).
    case truncated
    /// The decoder refused the data; the message is the library's.
    case corrupt(String)
    /// A valid but unsupported variant (e.g. a CMYK JPEG, an interlaced or 1–4-bit PNG): no hash, not an error.
    case unsupported(String)
}

/// JPEG through libjpeg-turbo's TurboJPEG API.
package enum JPEGCodec {
    /// Decodes `bytes` to grey at the smallest of TurboJPEG's 1/8, 1/4, 1/2 scales that still leaves at least
    /// 32×32 pixels (1/1 for small images), feeding rows to `accumulator`'s cells. The caller has checked the
    /// header size (decompression bombs); TurboJPEG's own header size is checked again against `maxPixels`.
    package static func hash(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws(DecodeError) -> PerceptualHash {
        guard let handle = tjInitDecompress() else { throw .corrupt("tjInitDecompress") }
        defer { tjDestroy(handle) }
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        guard
            tjDecompressHeader3(handle, source, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0
        else { throw error(handle) }
        guard width > 0, height > 0, Int(width) * Int(height) <= maxPixels else {
            throw .corrupt("image size")
        }
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw .unsupported("CMYK JPEG")
        }
        var scaledWidth = Int(width)
        var scaledHeight = Int(height)
        for denominator in [8, 4, 2] {
            let w = (Int(width) + denominator - 1) / denominator
            let h = (Int(height) + denominator - 1) / denominator
            if w >= 32 && h >= 32 {
                (scaledWidth, scaledHeight) = (w, h)
                break
            }
        }
        var pixels = [UInt8](repeating: 0, count: scaledWidth * scaledHeight)
        let flags = TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE | TJFLAG_LIMITSCANS
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(
                handle, source, UInt(bytes.count), out.baseAddress, Int32(scaledWidth), 0, Int32(scaledHeight),
                Int32(TJPF_GRAY.rawValue), flags)
        }
        if status != 0 {
            let failure = error(handle)
            // A warning with pixels decoded is fine (many phones write a few stray bytes), except a file cut short.
            guard tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue), failure != .truncated else {
                throw failure
            }
        }
        var accumulator = CellAccumulator(width: scaledWidth, height: scaledHeight)
        pixels.withUnsafeBufferPointer { all in
            for y in 0..<scaledHeight {
                accumulator.add(
                    row: y, grey: UnsafeBufferPointer(rebasing: all[(y * scaledWidth)..<((y + 1) * scaledWidth)]))
            }
        }
        return accumulator.hash
    }

    private static func error(_ handle: tjhandle) -> DecodeError {
        let message = String(cString: tjGetErrorStr2(handle))
        if message.contains("Premature end") { return .truncated }
        return .corrupt(message)
    }

    /// Encodes RGB pixels (`width` × `height` × 3 bytes) at `quality` (1–100), 4:2:0: test photos and benchmark
    /// payloads are made with it.
    package static func encode(rgb: [UInt8], width: Int, height: Int, quality: Int) -> [UInt8]? {
        guard rgb.count == width * height * 3, let handle = tjInitCompress() else { return nil }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = rgb.withUnsafeBufferPointer { source in
            tjCompress2(
                handle, source.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue), &output, &size,
                Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        defer { tjFree(output) }
        guard status == 0, let output else { return nil }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// Decodes to full-size RGB (tests: resizing and brightening a photo).
    package static func decodeRGB(_ jpeg: [UInt8]) -> (rgb: [UInt8], width: Int, height: Int)? {
        guard let handle = tjInitDecompress() else { return nil }
        defer { tjDestroy(handle) }
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, jpeg, UInt(jpeg.count), &width, &height, &subsampling, &colorspace) == 0
        else { return nil }
        var rgb = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = rgb.withUnsafeMutableBufferPointer { out in
            tjDecompress2(
                handle, jpeg, UInt(jpeg.count), out.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
        }
        return status == 0 ? (rgb, Int(width), Int(height)) : nil
    }
}

/// PNG pixels through zlib: the data chunks are inflated in a stream and unfiltered row by row into the cells of
/// a ``CellAccumulator``, so memory stays at two rows whatever the image size.
package enum PNGCodec {
    /// The perceptual hash of the PNG described by `structure` in `bytes`.
    package static func hash(_ bytes: UnsafeRawBufferPointer, structure: ImageStructure) throws(DecodeError)
        -> PerceptualHash
    {
        guard let layout = structure.png else { throw .corrupt("not a PNG") }
        guard !layout.interlaced else { throw .unsupported("interlaced PNG") }
        let channels: Int
        switch layout.colorType {
        case 0: channels = 1
        case 2: channels = 3
        case 3: channels = 1
        case 4: channels = 2
        case 6: channels = 4
        default: throw .corrupt("colour type \(layout.colorType)")
        }
        guard layout.bitDepth == 8 || (layout.bitDepth == 16 && layout.colorType != 3) else {
            throw .unsupported("bit depth \(layout.bitDepth)")
        }
        let sampleBytes = layout.bitDepth / 8
        let pixelBytes = channels * sampleBytes
        let width = structure.width
        let rowBytes = width * pixelBytes
        var palette: [UInt8] = []
        if layout.colorType == 3 {
            guard let range = layout.palette else { throw .corrupt("palette missing") }
            palette = Array(bytes[range])
            // Out-of-range indices read grey 0 rather than past the palette.
            palette += [UInt8](repeating: 0, count: max(0, 768 - palette.count))
        }

        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("inflateInit")
        }
        defer { inflateEnd(&stream) }
        var row = [UInt8](repeating: 0, count: rowBytes + 1)
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        var grey = [UInt8](repeating: 0, count: width)
        var accumulator = CellAccumulator(width: width, height: structure.height)
        var y = 0
        var filled = 0
        var ended = false
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        chunks: for chunk in layout.dataChunks {
            stream.next_in = UnsafeMutablePointer(mutating: base + chunk.lowerBound)
            stream.avail_in = UInt32(chunk.count)
            while stream.avail_in > 0 {
                let result = row.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress! + filled
                    stream.avail_out = UInt32(out.count - filled)
                    let result = inflate(&stream, Z_NO_FLUSH)
                    filled = out.count - Int(stream.avail_out)
                    return result
                }
                if result == Z_STREAM_END { ended = true }
                guard result == Z_OK || result == Z_STREAM_END || (result == Z_BUF_ERROR && filled == row.count)
                else { throw .corrupt("inflate \(result)") }
                if filled == row.count {
                    try unfilter(row, into: &current, previous: previous, pixelBytes: pixelBytes)
                    toGrey(
                        current, &grey, layout: layout, channels: channels, sampleBytes: sampleBytes, palette: palette)
                    grey.withUnsafeBufferPointer { accumulator.add(row: y, grey: $0) }
                    swap(&previous, &current)
                    y += 1
                    filled = 0
                    if y == structure.height { break chunks }
                }
                if ended { break chunks }
            }
        }
        guard y == structure.height else { throw .truncated }
        return accumulator.hash
    }

    private static func unfilter(_ row: [UInt8], into current: inout [UInt8], previous: [UInt8], pixelBytes: Int)
        throws(DecodeError)
    {
        let filter = row[0]
        let count = current.count
        switch filter {
        case 0:
            for i in 0..<count { current[i] = row[i + 1] }
        case 1:
            for i in 0..<count { current[i] = row[i + 1] &+ (i >= pixelBytes ? current[i - pixelBytes] : 0) }
        case 2:
            for i in 0..<count { current[i] = row[i + 1] &+ previous[i] }
        case 3:
            for i in 0..<count {
                let left = i >= pixelBytes ? Int(current[i - pixelBytes]) : 0
                current[i] = row[i + 1] &+ UInt8((left + Int(previous[i])) / 2)
            }
        case 4:
            for i in 0..<count {
                let a = i >= pixelBytes ? Int(current[i - pixelBytes]) : 0
                let b = Int(previous[i])
                let c = i >= pixelBytes ? Int(previous[i - pixelBytes]) : 0
                let p = a + b - c
                let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                let predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                current[i] = row[i + 1] &+ UInt8(predictor)
            }
        default:
            throw .corrupt("filter \(filter)")
        }
    }

    private static func toGrey(
        _ row: [UInt8], _ grey: inout [UInt8], layout: ImageStructure.PNGLayout, channels: Int, sampleBytes: Int,
        palette: [UInt8]
    ) {
        let stride = channels * sampleBytes
        for x in 0..<grey.count {
            let at = x * stride
            switch layout.colorType {
            case 0, 4:
                grey[x] = row[at]
            case 3:
                let index = Int(row[at]) * 3
                grey[x] = luma(palette[index], palette[index + 1], palette[index + 2])
            default:
                grey[x] = luma(row[at], row[at + sampleBytes], row[at + 2 * sampleBytes])
            }
        }
    }

    private static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let red: Int = Int(r) * 299
        let green: Int = Int(g) * 587
        let blue: Int = Int(b) * 114
        return UInt8((red + green + blue) / 1000)
    }
}
