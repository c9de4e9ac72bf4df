package handler

import "slices"

// sortedIDs is ids in order (the evidence has no answer order). The
// attempt keeps its launched ids in this order: each task's unit derives
// from it (launch.RefFromChunk), so runtask writes no per-task record.
func sortedIDs(ids []string) []string {
	return slices.Sorted(slices.Values(ids))
}
