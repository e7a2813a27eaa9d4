// Command sluice is the Sluice streaming share gateway: Kafka topics into
// governed Delta Lake tables, shared over the Delta Sharing protocol.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sluice: not yet wired")
	os.Exit(2)
}
