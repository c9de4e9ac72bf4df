package stack

// For the external tests (package stack_test), which may import packages
// that import this one (examples/embed).
var (
	TestAssets = assets
	TestRender = render
	TestAssert = assert
	TestNagApp = nagApp
)
