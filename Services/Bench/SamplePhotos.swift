import Foundation

/// `asnreward-bench photos DIR [N]`: writes N (default 3) photos as the e2e bench sends them, for checking by hand
/// with a real decoder (`python3 -c 'from PIL import Image; …'`, `djpeg`, `exiftool`).
func writeSamplePhotos(arguments: [String]) throws {
    let directory = arguments.first ?? "."
    let count = arguments.dropFirst().first.flatMap(Int.init) ?? 3
    let population = SyntheticPopulation(count: max(count, 1))
    let photos = SyntheticJPEG()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for index in 0..<count {
        let person = population.people[index]
        let office = population.opds[person.opd]
        let camera = SyntheticPopulation.cameras[index % SyntheticPopulation.cameras.count]
        let metadata = PhotoMetadata(
            capturedAt: Date().addingTimeInterval(-900), latitude: office.latitude, longitude: office.longitude,
            make: camera.make, model: camera.model)
        let bytes = photos.photo(metadata: metadata, comment: "asnreward-bench sample \(index)", variant: UInt64(index))
        let path = "\(directory)/bench-\(index).jpg"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        print("\(path): \(bytes.count) bytes, \(person.nip) \(office.code)")
    }
}
