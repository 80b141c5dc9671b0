import NIOCore

/// Upload bytes as they arrive, kept as the received buffers (no doubling copies while it grows) and joined once,
/// at the exact size, when the upload is complete. Refuses to grow past its limit.
struct UploadBuffer {
    let limit: Int
    private(set) var count = 0
    private var buffers: [ByteBuffer] = []

    init(limit: Int) {
        self.limit = limit
    }

    /// Appends `buffer`; false (and nothing kept) when that would pass the limit.
    mutating func append(_ buffer: ByteBuffer) -> Bool {
        guard self.count + buffer.readableBytes <= self.limit else { return false }
        self.count += buffer.readableBytes
        self.buffers.append(buffer)
        return true
    }

    /// The bytes, in one array.
    func joined() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.count)
        for buffer in self.buffers { bytes.append(contentsOf: buffer.readableBytesView) }
        return bytes
    }
}
