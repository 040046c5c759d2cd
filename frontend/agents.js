// The chat page's agents and models: the New chat pickers, filled from GET /agents, and the open
// chat's agent and model in the header, where the model can be switched for the next replies.
'use strict';

const Agents = (() => {
  const { $, api, el } = DC;
  let cards = [];  // GET /agents, as last read

  async function load() {
    cards = await api('/agents');
    return cards;
  }

  const find = (name) => cards.find((c) => c.name === name);

  function options(select, values, selected) {
    select.replaceChildren(...values.map((value) => el('option', '', value)));
    select.value = selected;
  }

  // The pickers of a new chat, writing the choice into `choice` ({agent, model}). No agent or model
  // picker when there is nothing to choose (the double-texting choice is always there); '' in
  // `choice` leaves the choice to the server's defaults.
  function showPicker(choice) {
    const agent = find(choice.agent) || cards.find((c) => c.default) || cards[0];
    if (!agent) { hidePicker(); return; }
    choice.agent = agent.name;
    if (!agent.models.includes(choice.model)) choice.model = agent.default_model;
    const agents = $('agent-choice');
    agents.hidden = cards.length < 2;
    agents.replaceChildren();
    for (const card of cards) {
      const label = el('label', 'agent-option');
      const radio = el('input');
      Object.assign(radio, { type: 'radio', name: 'agent', value: card.name, checked: card.name === agent.name });
      radio.onchange = () => { choice.agent = card.name; choice.model = card.default_model; showPicker(choice); };
      label.append(radio, el('span', 'agent-name', card.name), el('span', 'agent-description', card.description));
      agents.append(label);
    }
    $('model-choice').hidden = agent.models.length < 2;
    options($('new-model'), agent.models, choice.model);
    $('new-model').onchange = () => { choice.model = $('new-model').value; };
    $('new-chat').hidden = false;
  }

  function hidePicker() { $('new-chat').hidden = true; }

  // The open chat's agent and model; the model is a picker when its agent offers others.
  function showSession(view) {
    $('session-info').hidden = !view.sessionId;
    if (!view.sessionId) return;
    const agent = find(view.agent);
    const current = view.model || agent?.default_model || '';
    $('session-agent').textContent = view.agent || '?';
    const models = agent ? [...agent.models] : [];
    if (current && !models.includes(current)) models.push(current);  // no longer offered: still shown
    const switchable = models.length > 1 && view.status !== 'closed';
    $('session-model').hidden = !switchable;
    $('session-model-name').hidden = switchable;
    $('session-model-name').textContent = current || 'default model';
    const select = $('session-model');
    const shown = [...select.options].map((o) => o.value);
    if (switchable && document.activeElement !== select) {
      if (shown.join('\n') !== models.join('\n')) options(select, models, current);
      else select.value = current;
    }
  }

  async function switchModel(view) {
    const select = $('session-model');
    const model = select.value;
    const note = $('model-note');
    const running = view.running();
    select.disabled = true;
    try {
      const chosen = await api(`/sessions/${view.sessionId}/model`, { method: 'POST', body: JSON.stringify({ model }) });
      view.model = chosen.model;
      note.className = 'model-note';
      note.textContent = `Model switched to ${chosen.model}${running ? ' from the next reply' : ''}.`;
    } catch (error) {
      note.className = 'model-note refused';
      note.textContent = `The model was not switched: ${error.message}`;
    } finally {
      select.disabled = false;
      select.blur();
      showSession(view);
      view.scheduleRefresh();
    }
  }

  return { load, find, showPicker, hidePicker, showSession, switchModel, cards: () => cards };
})();
