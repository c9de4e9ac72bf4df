package limiter

import (
	"fmt"
	"strconv"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Lane attribute prefixes (the bucket name follows): short, since every
// write is charged by the whole item's size. f<lane>_ is a lane's front,
// lg_ and lfl_ the lane state's epoch and floor; per lower lane (N, L)
// sb, st0/sc0, st1/sc1 and su are LaneShift's Base, runs and Budget.
var laneFrontAttr = [nLanes]string{"fH_", "fN_", "fL_"}

const (
	attrLaneGen   = "lg_"
	attrLaneFloor = "lfl_"
)

func laneShiftAttrs(m int) []string {
	c := "NL"[m-1 : m]
	a := []string{"sb" + c + "_"}
	for i := range laneRuns {
		a = append(a, fmt.Sprintf("st%d%s_", i, c), fmt.Sprintf("sc%d%s_", i, c))
	}
	return append(a, "su"+c+"_")
}

// laneShiftPtrs returns the fields of s in laneShiftAttrs order.
func laneShiftPtrs(s *LaneShift) []*int64 {
	p := []*int64{&s.Base}
	for i := range laneRuns {
		p = append(p, &s.Thr[i], &s.Cum[i])
	}
	return append(p, &s.Budget)
}

func intField(prefix string, f func(*BucketState) *int64) stateField {
	return stateField{prefix, compareNever,
		func(s BucketState) ddbtypes.AttributeValue { return num(*f(&s)) },
		func(s *BucketState, v string) { *f(s), _ = strconv.ParseInt(v, 10, 64) }}
}

// laneFields are the lane attributes, for parseItem.
func laneFields() []stateField {
	fs := []stateField{
		intField(attrLaneGen, func(s *BucketState) *int64 { return &s.Lanes.Gen }),
		intField(attrLaneFloor, func(s *BucketState) *int64 { return &s.Lanes.Floor }),
	}
	for l := range nLanes {
		fs = append(fs, intField(laneFrontAttr[l], func(s *BucketState) *int64 { return &s.Lanes.Front[l] }))
	}
	for m := laneNormal; m < nLanes; m++ {
		for j, a := range laneShiftAttrs(m) {
			fs = append(fs, intField(a, func(s *BucketState) *int64 { return laneShiftPtrs(&s.Lanes.Shift[m])[j] }))
		}
	}
	return fs
}

// updateExpr collects one UpdateItem's SET clauses and conditions.
type updateExpr struct {
	names  map[string]string
	values map[string]ddbtypes.AttributeValue
	sets   []string
	conds  []string
}

// equal conditions attribute attr (named n) on holding v (absent for 0).
func (x *updateExpr) equal(n, attr, vname string, v int64) {
	x.names[n] = attr
	if v == 0 {
		x.values[":zero"] = num(0)
		x.conds = append(x.conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s = :zero)", n, n))
		return
	}
	x.values[vname] = num(v)
	x.conds = append(x.conds, fmt.Sprintf("%s = %s", n, vname))
}

// set writes v to attribute attr (named n).
func (x *updateExpr) set(n, attr, vname string, v int64) {
	x.names[n], x.values[vname] = attr, num(v)
	x.sets = append(x.sets, n+" = "+vname)
}

// laneFront sets the front of debit i's lane to the bucket's new TAT on a
// first-come-first-served take (tatExpr: the new TAT's expression).
func (x *updateExpr) laneFront(i int, d Debit, tatExpr string) {
	l, _ := laneIndex(d.Lane)
	n := fmt.Sprintf("#lf%d", i)
	x.names[n] = laneFrontAttr[l] + d.Bucket
	x.sets = append(x.sets, n+" = "+tatExpr)
}

// laneEpoch conditions the lane state's epoch and floor on the debit's
// expectation and writes the new ones.
func (x *updateExpr) laneEpoch(i int, d Debit) {
	lw := d.Lanes
	if lw.Prev.Gen == lw.Next.Gen && lw.Prev.Floor == lw.Next.Floor {
		x.equal(fmt.Sprintf("#lg%d", i), attrLaneGen+d.Bucket, fmt.Sprintf(":lg%d", i), lw.Prev.Gen)
		x.equal(fmt.Sprintf("#lo%d", i), attrLaneFloor+d.Bucket, fmt.Sprintf(":lo%d", i), lw.Prev.Floor)
		return
	}
	x.equal(fmt.Sprintf("#lg%d", i), attrLaneGen+d.Bucket, fmt.Sprintf(":lgp%d", i), lw.Prev.Gen)
	x.equal(fmt.Sprintf("#lo%d", i), attrLaneFloor+d.Bucket, fmt.Sprintf(":lop%d", i), lw.Prev.Floor)
	x.set(fmt.Sprintf("#lg%d", i), attrLaneGen+d.Bucket, fmt.Sprintf(":lgn%d", i), lw.Next.Gen)
	x.set(fmt.Sprintf("#lo%d", i), attrLaneFloor+d.Bucket, fmt.Sprintf(":lon%d", i), lw.Next.Floor)
}

// preempt is a preempting debit's update (its TAT attribute named t):
// the frontier and the shifted lanes' fronts move by Inc, the take's lane
// front goes to P + Inc, the shifted lanes' push-back state is swapped,
// and every lane not shifted must have nothing booked beyond P.
func (x *updateExpr) preempt(i int, d Debit, t string) {
	lw := d.Lanes
	l, _ := laneIndex(d.Lane)
	inc, p := fmt.Sprintf(":i%d", i), fmt.Sprintf(":P%d", i)
	x.values[inc], x.values[p] = num(d.Inc.Microseconds()), num(lw.P)
	x.sets = append(x.sets, fmt.Sprintf("%s = %s + %s", t, t, inc))
	x.conds = append(x.conds, fmt.Sprintf("%s > %s", t, p))
	for m := range nLanes {
		f := fmt.Sprintf("#lf%d_%d", i, m)
		x.names[f] = laneFrontAttr[m] + d.Bucket
		switch {
		case m == l:
			x.conds = append(x.conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", f, f, p))
			x.values[fmt.Sprintf(":lt%d", i)] = num(lw.P + d.Inc.Microseconds())
			x.sets = append(x.sets, fmt.Sprintf("%s = :lt%d", f, i))
		case lw.Shifted[m]:
			x.values[":zero"] = num(0)
			x.sets = append(x.sets, fmt.Sprintf("%s = if_not_exists(%s, :zero) + %s", f, f, inc))
			prev, next := lw.Prev.Shift[m], lw.Next.Shift[m]
			pp, np := laneShiftPtrs(&prev), laneShiftPtrs(&next)
			attrs := laneShiftAttrs(m)
			for j, a := range attrs {
				n := fmt.Sprintf("#s%d%d%d", i, m, j)
				if j == len(attrs)-1 {
					// Every push back raises the budget's TAT, so it
					// versions the lane's whole push-back state.
					x.equal(n, a+d.Bucket, fmt.Sprintf(":sp%d%d", i, m), *pp[j])
				}
				if *pp[j] != *np[j] {
					x.set(n, a+d.Bucket, fmt.Sprintf(":sn%d%d%d", i, m, j), *np[j])
				}
			}
		default:
			x.conds = append(x.conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", f, f, p))
		}
	}
}

// pruneValues drops the values no clause references (DynamoDB refuses
// unused ones): a write made only of preemptions uses no arrival time.
func pruneValues(values map[string]ddbtypes.AttributeValue, clauses ...[]string) {
	all := ""
	for _, c := range clauses {
		all += strings.Join(c, " ") + " "
	}
	for v := range values {
		if !strings.Contains(all, v+" ") && !strings.Contains(all, v+")") && !strings.Contains(all, v+",") {
			delete(values, v)
		}
	}
}
