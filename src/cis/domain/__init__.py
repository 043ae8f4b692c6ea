"""The pure core of cis: invite rules, invitation rendering and statistics, free of I/O."""
