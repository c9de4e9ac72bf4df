package launchstore

// SetPageLimit caps the items of one Query page (Tasks, Chunks) of st (tests page with a
// few records instead of a megabyte).
func SetPageLimit(st *DynamoDB, n int32) { st.pageLimit = &n }
