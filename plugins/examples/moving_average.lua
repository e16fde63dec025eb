-- moving_average.lua - example Lua node type (docs/plugins.md): replaces
-- msg.payload by the average of the last `window` numeric payloads and,
-- with `report` > 0, also sends {topic = "count", payload = n} every
-- `report` seconds from a timer. Keeps its window in node context; declares
-- an (unused) credential to show how credentials reach node.credentials.
return {
  name = "example-moving-average",
  category = "examples",
  color = "#C0DEED",
  description = "Average of the last N numbers; periodic count report",
  inputs = 1,
  outputs = 1,
  properties = {
    { name = "window", type = "integer", default = 3, help = "how many values to average" },
    { name = "report", type = "number", default = 0, help = "seconds between count reports (0: none)" },
  },
  credentials = {
    { name = "token", type = "password" },
  },

  init = function(node)
    context.set("values", {})
    if node.config.report > 0 then
      setInterval(function()
        node.send({ topic = "count", payload = #(context.get("values")) })
      end, node.config.report * 1000)
    end
  end,

  input = function(node, msg)
    local values = context.get("values")
    values[#values + 1] = msg.payload
    while #values > node.config.window do
      table.remove(values, 1)
    end
    context.set("values", values)
    local sum = 0
    for _, v in ipairs(values) do sum = sum + v end
    msg.payload = sum / #values
    return msg
  end,

  close = function(node)
    node.log("moving average closed with " .. #(context.get("values")) .. " values")
  end,
}
