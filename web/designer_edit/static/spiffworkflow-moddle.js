/*
 * A moddle extension descriptor for the spiffworkflow namespace (written for Hedui from
 * SpiffWorkflow's spiffworkflow.xsd), so the modeler reads, edits and writes back every
 * spiffworkflow element of our diagrams. Any element of a registered namespace missing here would be
 * dropped on import, so every element of that schema is declared, even those Hedui does not use yet.
 */
(function () {
  "use strict";

  function textElement(name) {
    return { name: name, superClass: ["Element"], properties: [{ name: "value", type: "String", isBody: true }] };
  }

  function attr(name) {
    return { name: name, type: "String", isAttr: true };
  }

  window.HeduiSpiffModdle = {
    name: "SpiffWorkflow",
    prefix: "spiffworkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      { name: "Properties", superClass: ["Element"],
        properties: [{ name: "values", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [attr("name"), attr("value")] },
      textElement("CalledDecisionId"),
      textElement("InstructionsForEndUser"),
      textElement("MessagePayload"),
      textElement("MessageVariable"),
      textElement("PayloadExpression"),
      textElement("VariableName"),
      textElement("PreScript"),
      textElement("PostScript"),
      { name: "UnitTests", superClass: ["Element"],
        properties: [{ name: "values", type: "UnitTest", isMany: true }] },
      { name: "UnitTest", superClass: ["Element"],
        properties: [attr("id"), { name: "inputJson", type: "InputJson" },
          { name: "expectedOutputJson", type: "ExpectedOutputJson" }] },
      textElement("InputJson"),
      textElement("ExpectedOutputJson"),
      { name: "ServiceTaskOperator", superClass: ["Element"],
        properties: [attr("id"), attr("resultVariable"), { name: "parameters", type: "Parameters" },
          { name: "retry", type: "Retry" }] },
      { name: "Parameters", superClass: ["Element"],
        properties: [{ name: "values", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"], properties: [attr("id"), attr("type"), attr("value")] },
      { name: "Retry", superClass: ["Element"], properties: [attr("retries"), attr("backoff_base")] }
    ]
  };
})();
