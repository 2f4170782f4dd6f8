package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// `youworker mcp NAME` listens on loopback unless --addr names another address.
func TestMCPListensOnLoopbackByDefault(t *testing.T) {
	t.Parallel()
	addr, err := mcpAddr("datetime", nil)
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ip, err := netip.ParseAddr(host)
	require.NoError(t, err, "the default is an IP, not a name that could resolve elsewhere")
	require.True(t, ip.IsLoopback(), addr)

	addr, err = mcpAddr("datetime", []string{"--addr", "0.0.0.0:9000"})
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:9000", addr)
}
