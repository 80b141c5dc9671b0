import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RealtimeVoiceErrors

/// Builds a JSON response from an `Encodable` value.
enum JSONResponse {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func make(status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let data = (try? Self.encoder.encode(value)) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `{"code":401,"error":"unauthorized","message":"…"}`: the gateway's envelope for failures.
struct GatewayErrorBody: Encodable {
    let code: Int
    let error: String
    let message: String
}

/// `{"error":{"message":…,"type":…,"code":…}}`: OpenAI's error shape, for `/v1/`.
struct OpenAIErrorBody: Encodable {
    struct Detail: Encodable {
        let message: String
        let type: String
        let code: String
    }
    let error: Detail
}

extension GatewayError {
    func response(path: String) -> Response {
        if path.hasPrefix("/v1/") {
            let type = self.status.code >= 500 ? "server_error" : (self.status == .unauthorized ? "authentication_error" : "invalid_request_error")
            return JSONResponse.make(
                status: self.status,
                OpenAIErrorBody(error: .init(message: self.message, type: type, code: self.code.name)),
                headers: self.headers
            )
        }
        return JSONResponse.make(
            status: self.status,
            GatewayErrorBody(code: Int(self.status.code), error: self.code.name, message: self.message),
            headers: self.headers
        )
    }
}
