/// Percent-encoding that leaves only RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) as they are.
///
/// Tencent's real-time ASR needs every query value and the signature encoded this way: Foundation's URLComponents
/// leaves `+ / = | ,` unescaped, and an unescaped `+`, `/` or `=` in a Base64 signature fails authentication
/// intermittently (docs/tencent.md, “Strict percent-encoding”).
enum StrictPercentEncoding {
    static func encode(_ text: String) -> String {
        var encoded = ""
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return encoded
    }
}
