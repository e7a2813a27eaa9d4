RESUME QUERY deadbeef-7d4b-4c6a-9a51-0b1c2d3e4f5g
