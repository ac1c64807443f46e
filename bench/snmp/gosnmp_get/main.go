// Issues SNMP GETs of sysUpTime.0 with N goroutines, one gosnmp instance (and socket) each,
// for a fixed duration, and prints how many succeeded. The CPU time of the process is
// measured from outside (run.sh), as for the Rust client.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

func main() {
	host := flag.String("host", "127.0.0.1", "agent address")
	port := flag.Int("port", 161, "agent port")
	version := flag.String("v", "2c", "2c or 3")
	community := flag.String("c", "public", "community")
	user := flag.String("u", "", "v3 user (SHA/AES-128 authPriv)")
	authPass := flag.String("A", "", "auth pass phrase")
	privPass := flag.String("X", "", "priv pass phrase")
	workers := flag.Int("n", 16, "goroutines")
	duration := flag.Duration("d", 5*time.Second, "duration")
	flag.Parse()

	var ok, failed int64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		g := &gosnmp.GoSNMP{
			Target:  *host,
			Port:    uint16(*port),
			Timeout: 2 * time.Second,
			Retries: 2,
			MaxOids: 60,
		}
		if *version == "3" {
			g.Version = gosnmp.Version3
			g.SecurityModel = gosnmp.UserSecurityModel
			g.MsgFlags = gosnmp.AuthPriv
			g.SecurityParameters = &gosnmp.UsmSecurityParameters{
				UserName:                 *user,
				AuthenticationProtocol:   gosnmp.SHA,
				AuthenticationPassphrase: *authPass,
				PrivacyProtocol:          gosnmp.AES,
				PrivacyPassphrase:        *privPass,
			}
		} else {
			g.Version = gosnmp.Version2c
			g.Community = *community
		}
		if err := g.Connect(); err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			os.Exit(1)
		}
		wg.Add(1)
		go func(g *gosnmp.GoSNMP) {
			defer wg.Done()
			defer g.Conn.Close()
			for time.Now().Before(deadline) {
				r, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"})
				if err == nil && len(r.Variables) == 1 {
					atomic.AddInt64(&ok, 1)
				} else {
					atomic.AddInt64(&failed, 1)
				}
			}
		}(g)
	}
	wg.Wait()
	fmt.Printf("ok %d failed %d\n", ok, failed)
}
