import GRDB

/// The database schema, built only by named migrations.
///
/// A migration that has shipped is never edited: a schema change is a new migration
/// appended at the end, so every existing database reaches the same schema.
enum Schema {
  /// The migrations in the order they run; `MetadataStore` applies the missing ones at open.
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()

    // The seed's `terminal_sessions` table, plus what berth needs to follow tmux and
    // to explain how a session ended. Times are integer milliseconds since 1970.
    migrator.registerMigration("v1-terminal-sessions") { db in
      try db.execute(
        sql: """
          CREATE TABLE terminal_sessions (
            id TEXT PRIMARY KEY NOT NULL,
            tmux_session_name TEXT NOT NULL UNIQUE,
            workspace_id TEXT,
            created_at INTEGER NOT NULL,
            last_attached_at INTEGER,
            last_detached_at INTEGER,
            cwd TEXT NOT NULL,
            status TEXT NOT NULL,
            cols INTEGER NOT NULL,
            "rows" INTEGER NOT NULL,
            shell TEXT NOT NULL,
            metadata TEXT,
            tmux_socket TEXT,
            tmux_session_id TEXT,
            end_reason TEXT,
            ended_at INTEGER,
            last_seen_at INTEGER,
            command TEXT
          );
          CREATE INDEX terminal_sessions_workspace_id_idx ON terminal_sessions(workspace_id);
          CREATE INDEX terminal_sessions_status_idx ON terminal_sessions(status);
          """)
    }

    // Reboot-recovery snapshots: one opaque blob per session, replaced only by a
    // complete batch, and gone with the session's record.
    migrator.registerMigration("v2-snapshots") { db in
      try db.execute(
        sql: """
          CREATE TABLE session_snapshots (
            session_id TEXT PRIMARY KEY NOT NULL
              REFERENCES terminal_sessions(id) ON DELETE CASCADE,
            taken_at INTEGER NOT NULL,
            boot_time INTEGER,
            data BLOB NOT NULL
          );
          """)
    }

    // Small facts berth remembers between runs (last boot time seen, prompts dismissed).
    migrator.registerMigration("v3-berth-state") { db in
      try db.execute(
        sql: """
          CREATE TABLE berth_state (
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT
          );
          """)
    }

    return migrator
  }
}
