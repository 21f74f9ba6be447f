// berth-store-stress: writes berth's metadata store from a separate process, so tests can
// check two processes writing at once (no "database is locked", no lost update) and a
// writer killed with SIGKILL (no acknowledged write lost, no corruption).
//
//   berth-store-stress write DB N PREFIX   insert N records, one transaction each; print
//                                          each id after its commit (acknowledged)
//   berth-store-stress update DB N ID      N read-modify-write updates of one record
//                                          (cols += 1 each)

import BerthCore
import BerthStore
import Foundation

func fail(_ message: String, status: Int32 = 1) -> Never {
  FileHandle.standardError.write(Data("berth-store-stress: \(message)\n".utf8))
  exit(status)
}

let usage = "usage: berth-store-stress write DB N PREFIX | update DB N ID"
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 4, let count = Int(arguments[2]), count >= 0 else {
  fail(usage, status: 2)
}
let (mode, databasePath, name) = (arguments[0], arguments[1], arguments[3])

let store: MetadataStore
do {
  store = try MetadataStore(path: databasePath) { message in
    FileHandle.standardError.write(Data((message + "\n").utf8))
  }
} catch {
  fail("\(error)")
}

switch mode {
case "write":
  let start = Date()
  for index in 0..<count {
    let id = "\(name)-\(index)"
    let record = SessionRecord(
      id: id, tmuxSessionName: "berth-\(id)", workspaceId: "stress",
      createdAt: start.addingTimeInterval(Double(index) / 1000), cwd: "/tmp", shell: "/bin/sh",
      metadata: SessionMetadata(title: "stress \(index)", tags: ["stress"]))
    do {
      try store.insert(record)
    } catch {
      fail("insert \(id): \(error)")
    }
    // Printed only after the commit returned: the test treats every printed id as a
    // write that must survive.
    // An unbuffered write(2): nothing acknowledged waits in a buffer a SIGKILL would lose.
    FileHandle.standardOutput.write(Data((id + "\n").utf8))
  }
case "update":
  for _ in 0..<count {
    do {
      guard try store.update(id: name, { $0.cols += 1 }) != nil else {
        fail("no record with id \(name)")
      }
    } catch {
      fail("update \(name): \(error)")
    }
  }
default:
  fail(usage, status: 2)
}
