import NIOCore
import NIOPosix

/// A free TCP port on 127.0.0.1, found by binding port 0 and closing it again.
public enum LoopbackPort {
    public static func free() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
