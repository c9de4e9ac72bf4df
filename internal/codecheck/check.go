package codecheck

import "fmt"

// Check returns one message for every function over the limits that no
// exception lists, then one for every stale exception: one that names no
// function, or a function within the limits now. Functions come in the order
// of funcs, exceptions in the order of excs.
func Check(funcs []Func, excs []Exception, l Limits) []string {
	listed := map[string]bool{}
	for _, e := range excs {
		listed[e.Key()] = true
	}
	// The measure an exception is judged by: a key can name several
	// functions (init), and one of them over the limits keeps the entry.
	judged := map[string]Func{}
	var out []string
	for _, f := range funcs {
		if prev, ok := judged[f.Key()]; !ok || f.Exceeds(l) && !prev.Exceeds(l) {
			judged[f.Key()] = f
		}
		if f.Exceeds(l) && !listed[f.Key()] {
			out = append(out, fmt.Sprintf("%s:%d %s: %s: split it, or list it in %s with a reason",
				f.File, f.Line, f.Name, f.measure(l), ExceptionsFile))
		}
	}
	for _, e := range excs {
		f, ok := judged[e.Key()]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s:%d: stale exception: there is no %s in %s; remove the entry",
				ExceptionsFile, e.Line, e.Name, e.File))
		case !f.Exceeds(l):
			out = append(out, fmt.Sprintf("%s:%d: stale exception: %s:%d %s is within the limits now (%s); remove the entry",
				ExceptionsFile, e.Line, f.File, f.Line, f.Name, f.measure(l)))
		}
	}
	return out
}

func (f Func) measure(l Limits) string {
	return fmt.Sprintf("%d lines (limit %d), complexity %d (limit %d)",
		f.Lines, l.Lines, f.Complexity, l.Complexity)
}
