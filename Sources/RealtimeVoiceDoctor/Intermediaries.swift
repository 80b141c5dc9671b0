/// Names the proxies and platforms in front of a server from the headers they add.
enum Intermediaries {
    static func recognise(_ headers: [(name: String, value: String)]) -> [String] {
        func value(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        func has(_ prefix: String) -> Bool { headers.contains { $0.name.lowercased().hasPrefix(prefix) } }
        var found: [String] = []
        let server = value("server")?.lowercased() ?? ""
        if server.hasPrefix("nginx") || server.hasPrefix("openresty") || server.hasPrefix("tengine") { found.append("nginx (\(value("server")!))") }
        if has("x-cloudbase") { found.append("Tencent CloudBase") }
        if server.hasPrefix("awselb") || has("x-amzn-") || has("x-amz-apigw") { found.append("AWS load balancer / API Gateway") }
        if has("x-amz-cf-") { found.append("AWS CloudFront") }
        if has("cf-ray") || server == "cloudflare" { found.append("Cloudflare") }
        if server == "google frontend" || has("x-cloud-trace-context") { found.append("Google Frontend (Cloud Run / App Engine)") }
        if server == "envoy" || has("x-envoy-") { found.append("envoy") }
        if (value("via") ?? "").lowercased().contains("vegur") { found.append("Heroku router") }
        if let via = value("via"), found.isEmpty { found.append("a proxy (Via: \(via))") }
        return found
    }
}
