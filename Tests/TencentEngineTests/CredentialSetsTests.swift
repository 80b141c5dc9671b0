import Testing

@testable import TencentEngine

@Suite("Several Tencent accounts: comma lists in the environment, used in turn")
struct CredentialSetsTests {
    @Test("the lists pair up by position; one AppID serves every pair; a mismatch is named")
    func parsing() throws {
        let both = try TencentCredentials.from(environment: [
            "TENCENTCLOUD_SECRET_ID": "AKID1, AKID2", "TENCENTCLOUD_SECRET_KEY": "key1,key2", "TENCENTCLOUD_APPID": "1300000001,1300000002",
        ]).get()
        #expect(both.map(\.secretID) == ["AKID1", "AKID2"] && both.map(\.secretKey) == ["key1", "key2"])
        #expect(both.map(\.appID) == ["1300000001", "1300000002"])
        let shared = try TencentCredentials.from(environment: [
            "TENCENTCLOUD_SECRET_ID": "AKID1,AKID2", "TENCENTCLOUD_SECRET_KEY": "key1,key2", "TENCENTCLOUD_APPID": "1300000001",
        ]).get()
        #expect(shared.map(\.appID) == ["1300000001", "1300000001"])
        let one = try TencentCredentials.from(environment: [
            "TENCENTCLOUD_SECRET_ID": "AKID1", "TENCENTCLOUD_SECRET_KEY": "key1", "TENCENTCLOUD_APPID": "1300000001",
        ]).get()
        #expect(one == [TencentCredentials(secretID: "AKID1", secretKey: "key1", appID: "1300000001")])
        for bad in [("a,b", "x", "1"), ("a,b", "x,y", "1,2,3"), ("a,", "x,y", "1")] {
            let result = TencentCredentials.from(environment: [
                "TENCENTCLOUD_SECRET_ID": bad.0, "TENCENTCLOUD_SECRET_KEY": bad.1, "TENCENTCLOUD_APPID": bad.2,
            ])
            guard case .failure(let failure) = result else {
                Issue.record("\(bad) was taken")
                continue
            }
            #expect(failure.mismatch != nil && !failure.description.contains("x,y"))
        }
    }

    @Test("sessions and requests take the accounts in turn")
    func inTurn() {
        let sets = ["A", "B", "C"].map { TencentCredentials(secretID: $0, secretKey: "k\($0)", appID: "1") }
        let rotation = CredentialRotation(sets)
        #expect((0..<7).map { _ in rotation.next().secretID } == ["A", "B", "C", "A", "B", "C", "A"])
    }
}
