import Contracts
import Foundation

/// The facts intake reads from a photo's own bytes for `submission.received`.
package struct PhotoFacts: Sendable, Equatable {
    /// JPEG or PNG.
    package var format: PhotoFormat
    /// Pixel width from the image header.
    package var width: Int
    /// Pixel height from the image header.
    package var height: Int
    /// What the EXIF block (or PNG `tIME`) says; `nil` when the photo carries nothing useful.
    package var capture: CaptureMetadata?
    /// The dHash of the decoded pixels; `nil` for valid variants the decoders do not read (CMYK JPEG,
    /// interlaced or low-bit-depth PNG).
    package var perceptualHash: PerceptualHash?
}

/// Why a photo is refused.
package enum PhotoError: Error, Sendable, Equatable {
    /// The header claims more than ``PhotoInspector/maxPixels`` pixels: a decompression bomb is never decoded.
    case tooManyPixels(width: Int, height: Int)
    /// The file ends early.
    case truncated
    /// The structure or the compressed data is broken.
    case corrupt
    /// The EXIF block is structurally broken (e.g. a looping IFD chain).
    case malformedExif(ExifError)
}

/// Reads a photo: structure and size first (refusing decompression bombs before decoding), then EXIF, then the
/// perceptual hash from decoded pixels (JPEG at 1/8 scale through TurboJPEG, PNG streamed through zlib).
package enum PhotoInspector {
    /// The most pixels a photo may have (40 megapixels; phones take up to about 12–50 MP, but evidence needs no
    /// more, and a 5 MB file claiming more is a bomb).
    package static let maxPixels = 40_000_000
    /// The longest side accepted.
    package static let maxSide = 65_535

    /// Inspects `bytes`. `decode: false` reads headers and EXIF only (the fuzz test's fast path).
    package static func inspect(_ bytes: UnsafeRawBufferPointer, decode: Bool = true) throws(PhotoError)
        -> PhotoFacts
    {
        let structure: ImageStructure
        do {
            structure = try ImageStructure.read(bytes)
        } catch .truncated {
            throw .truncated
        } catch {
            throw .corrupt
        }
        // Each side at most 65,535 (JPEG's own limit): a 40-megapixel image one pixel high would still need
        // rows of hundreds of megabytes to unfilter.
        guard structure.width <= maxPixels / structure.height, structure.width <= maxSide, structure.height <= maxSide
        else {
            throw .tooManyPixels(width: structure.width, height: structure.height)
        }
        var capture: CaptureMetadata?
        if let range = structure.exif {
            do {
                capture = try ExifReader.read(UnsafeRawBufferPointer(rebasing: bytes[range])).captureMetadata
            } catch {
                throw .malformedExif(error)
            }
        }
        if capture?.capturedAt == nil, let time = structure.pngTime, let date = pngTime(time) {
            // A PNG's tIME is its last modification (UTC): the closest it has to a capture time.
            capture = capture ?? CaptureMetadata()
            capture?.capturedAt = date
            capture?.capturedAtOffset = "+00:00"
        }
        var facts = PhotoFacts(
            format: structure.format, width: structure.width, height: structure.height, capture: capture)
        guard decode else { return facts }
        do {
            switch structure.format {
            case .jpeg: facts.perceptualHash = try JPEGCodec.hash(bytes, maxPixels: maxPixels)
            case .png: facts.perceptualHash = try PNGCodec.hash(bytes, structure: structure)
            }
        } catch .truncated {
            throw .truncated
        } catch .unsupported {
            facts.perceptualHash = nil
        } catch {
            throw .corrupt
        }
        return facts
    }

    /// Inspects an array.
    package static func inspect(_ bytes: [UInt8], decode: Bool = true) throws(PhotoError) -> PhotoFacts {
        let result: Result<PhotoFacts, PhotoError> = bytes.withUnsafeBytes { buffer in
            do throws(PhotoError) { return .success(try inspect(buffer, decode: decode)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func pngTime(_ parts: [Int]) -> Date? {
        guard parts.count == 6 else { return nil }
        let text = String(
            format: "%04d:%02d:%02d %02d:%02d:%02d", parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
        return ExifDate.parse(text, offset: "+00:00")?.date
    }
}
