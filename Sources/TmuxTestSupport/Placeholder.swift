// TmuxTestSupport
