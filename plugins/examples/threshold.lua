-- threshold.lua - example Lua node type (docs/plugins.md): routes each
-- message by comparing msg.payload (a number) with a limit. Output 1 gets
-- messages above the limit, output 2 the others; the status shows how many
-- crossed. Non-numbers are reported to catch nodes.
return {
  name = "example-threshold",
  category = "examples",
  color = "#E2D96E",
  description = "Routes numbers above a limit to output 1, others to output 2",
  inputs = 1,
  outputs = 2,
  properties = {
    { name = "limit", type = "number", required = true,
      help = "messages with payload > limit go to output 1" },
    { name = "label", type = "string", default = "above", help = "status text" },
  },

  init = function(node)
    node.status({ fill = "grey", shape = "ring", text = node.config.label .. ": 0" })
  end,

  input = function(node, msg)
    if type(msg.payload) ~= "number" then
      error("payload is not a number: " .. tostring(msg.payload), 0)
    end
    if msg.payload > node.config.limit then
      local n = (context.get("above") or 0) + 1
      context.set("above", n)
      node.status({ fill = "red", shape = "dot", text = node.config.label .. ": " .. n })
      return { msg, nil }
    end
    return { nil, msg }
  end,
}
